"""The one interface every frame source implements."""
from __future__ import annotations

import abc
import itertools
from typing import Iterator

import numpy as np

from monitor.frames import FrameSet
from monitor.shm import Allocator, Layout


class SourceError(RuntimeError):
    """A source cannot deliver frames (device gone, file unreadable). The message says what to do."""


class FrameSource(abc.ABC):
    """An iterator of `FrameSet`s that owns a device or a file; use it as a context manager.

    ``is_live`` sources (cameras) pace themselves and default to the live delivery policy;
    the others (recordings, synthetic scenes) are played back as fast as the consumer asks, and
    the capture worker paces them by ``device_ts_ms`` when real time is wanted.

    A source copies the device's or file's pixels into process memory once anyway; it makes the
    arrays it copies into with ``allocate``, so that the capture worker can install the
    shared-memory ring's ``claim`` as ``allocator`` and the copy lands in a ring slot (no second
    copy when the frameset is published; docs/transport.md).
    """

    is_live: bool = False
    name: str = "source"
    allocator: Allocator | None = None  # None: private arrays

    def allocate(self, layout: Layout) -> dict[str, np.ndarray]:
        """Writable, uninitialised, C-contiguous arrays for one frameset's images; write every
        element. Use them unchanged in the FrameSet: a ring commits them only as they were lent."""
        if self.allocator is not None:
            return self.allocator(layout)
        return {name: np.empty(shape, dtype) for name, (dtype, shape) in layout.items()}

    @abc.abstractmethod
    def __iter__(self) -> Iterator[FrameSet]: ...

    def warning(self) -> str | None:
        """Something the user should know about the input that did not stop it (e.g. a recording
        cut by a crash, played up to its last complete frame); it goes into summary.json."""
        return None

    def frames_from(self, start: int) -> Iterator[FrameSet]:
        """The frames from the ``start``-th on (a restarted capture resumes there). Sources that
        can seek override this; the default reads and discards the first ``start`` frames."""
        return itertools.islice(iter(self), start, None)

    def close(self) -> None:  # noqa: B027 - sources without resources need nothing
        """Release the device or file. Safe to call twice."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
