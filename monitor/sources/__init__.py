"""Frame sources behind one interface, opened from a spec string.

Spec forms (also in ``run_monitor.py --help``):
    synthetic[:key=value,...]     procedural in-cabin scene (the default)
    PATH.dmsrec                   the project's own recording
    PATH.bag | PATH.db3           RealSense recording, played through librealsense
    realsense[:key=value,...]     a live RealSense camera (width, height, fps, emitter, serial)
"""
from __future__ import annotations

import importlib
from pathlib import Path

from monitor.sources.base import FrameSource, SourceError

# kind -> "module:factory"; modules import lazily so pyrealsense2 loads only when it is needed.
_FACTORIES = {
    "synthetic": "monitor.sources.synthetic:open_synthetic",
    "dmsrec": "monitor.sources.recording:RecordingSource",
    "rsfile": "monitor.sources.realsense:RealSensePlaybackSource",
    "realsense": "monitor.sources.realsense:RealSenseLiveSource",
}
_EXTENSIONS = {".dmsrec": "dmsrec", ".bag": "rsfile", ".db3": "rsfile"}
_PATH_KINDS = frozenset(_EXTENSIONS.values())  # kinds named by a file's extension, never by "kind:"
DEFAULT_SOURCE = "synthetic"


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split a source spec into (kind, options); paths map to their kind by extension (a spec
    that starts with a kind's name and a colon is that kind, whatever its options end in)."""
    kind, colon, rest = spec.partition(":")
    named_kind = bool(colon) and kind in _FACTORIES and kind not in _PATH_KINDS
    suffix = Path(spec).suffix.lower()
    if suffix in _EXTENSIONS and not named_kind:
        return _EXTENSIONS[suffix], {"path": spec}
    if kind not in _FACTORIES or kind in _PATH_KINDS:
        raise SourceError(f"unknown source {spec!r}: give 'synthetic', 'realsense' or a path "
                          "ending in .dmsrec, .bag or .db3")
    options: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SourceError(f"bad source option {item!r} in {spec!r}: use key=value")
        options[key.strip()] = value.strip()
    return kind, options


def open_source(spec: str) -> FrameSource:
    kind, options = parse_spec(spec)
    module_name, _, factory_name = _FACTORIES[kind].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise SourceError(f"bad options for source {kind!r}: {exc}") from None


__all__ = ["FrameSource", "SourceError", "open_source", "parse_spec", "DEFAULT_SOURCE"]
