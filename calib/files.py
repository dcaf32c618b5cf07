"""Reading the small JSON input files of the calibration tools and writing their outputs, with one-line errors."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def read_text(path: str | Path, what: str, content: str = "JSON text") -> str:
    """The UTF-8 text of ``path``; a one-line ValueError naming the file when it is missing, a
    folder, unreadable or not UTF-8 (``content`` says what it should have held)."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{p}: {what} file not found") from None
    except IsADirectoryError:
        raise ValueError(f"{p} is a folder, not a {what} file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a {what} file (not UTF-8 {content})") from None
    except OSError as exc:
        raise ValueError(f"{p}: cannot read the {what} file ({exc.strerror})") from None


def read_json(path: str | Path, what: str) -> Any:
    """The JSON in ``path``; a one-line ValueError naming the file when it cannot be read
    (`read_text`) or is not valid JSON."""
    p = Path(path)
    try:
        return json.loads(read_text(p, what))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def read_json_list(path: str | Path, key: str, what: str) -> list[Any]:
    """The non-empty list under ``key`` of the JSON object in ``path``; ValueError otherwise."""
    p = Path(path)
    data = read_json(p, what)
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{p}: needs a non-empty '{key}' list")
    return items


def write_outputs(files: list[tuple[str | Path, str, str]], folders: tuple[tuple[str | Path, str], ...] = ()) -> None:
    """Write each (path, text, option) whole or not at all: every text goes to a temporary file
    beside its target first, and the targets are replaced only once all of them are written, so a
    failure leaves no half-written or partial set of outputs. A path that cannot be written is a
    one-line ValueError naming it and the option to change (``option``). ``folders``: (folder,
    option) to create first, with missing parents (removed again on failure)."""
    made: list[Path] = []    # folders created here
    temps: list[Path] = []
    done = False
    try:
        for folder, option in folders:
            made += _make_folder(Path(folder), option)
        for path, text, option in files:
            p = Path(path)
            if p.is_dir():  # checked up front: replacing a folder fails only after others were replaced
                raise ValueError(f"{p} is a folder; choose another {option}")
            tmp = p.parent / f".{p.name}.{os.getpid()}.tmp"
            try:
                with open(tmp, "x", encoding="utf-8") as f:
                    temps.append(tmp)
                    f.write(text)
                if p.exists():
                    shutil.copymode(p, tmp)  # rewriting a file (pnp --layout in place) keeps its mode
            except OSError as exc:
                raise ValueError(f"{p}: cannot write ({exc.strerror or exc}); choose another {option}") from None
        for (path, _, option), tmp in zip(files, temps):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise ValueError(f"{path}: cannot write ({exc.strerror or exc}); choose another {option}") from None
        done = True
    finally:
        if not done:
            for tmp in temps:
                tmp.unlink(missing_ok=True)
            for folder in reversed(made):
                try:
                    folder.rmdir()
                except OSError:
                    pass


def _make_folder(folder: Path, option: str) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first (skipping
    those already made)."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        for f in reversed(missing):  # whatever mkdir got to before it failed
            try:
                f.rmdir()
            except OSError:
                pass
        reason = "a file of that name exists" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise ValueError(f"{folder}: cannot make the folder ({reason}); choose another {option}") from None
    return missing
