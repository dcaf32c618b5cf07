"""The one interface every frame source implements."""
from __future__ import annotations

import abc
import itertools
from typing import Iterator

from monitor.frames import FrameSet


class SourceError(RuntimeError):
    """A source cannot deliver frames (device gone, file unreadable). The message says what to do."""


class FrameSource(abc.ABC):
    """An iterator of `FrameSet`s that owns a device or a file; use it as a context manager.

    ``is_live`` sources (cameras) pace themselves and default to the live delivery policy;
    the others (recordings, synthetic scenes) are played back as fast as the consumer asks, and
    the capture worker paces them by ``device_ts_ms`` when real time is wanted.
    """

    is_live: bool = False
    name: str = "source"

    @abc.abstractmethod
    def __iter__(self) -> Iterator[FrameSet]: ...

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
