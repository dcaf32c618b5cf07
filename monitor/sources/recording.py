"""Replay of the project's own ``.dmsrec`` recordings, bit-exact."""
from __future__ import annotations

from typing import Iterator

from monitor.frames import FrameSet
from monitor.recording import RecordingReader
from monitor.sources.base import FrameSource


class RecordingSource(FrameSource):
    """Yields the recorded framesets (records with topic ``frames``) in order."""

    def __init__(self, path: str) -> None:
        self._reader = RecordingReader(path)  # raises RecordingError with a clear message
        self.name = f"recording:{path}"

    def __iter__(self) -> Iterator[FrameSet]:
        for msg in self._reader.messages(self.allocate):  # read straight into the lent arrays (a ring slot)
            if msg.topic == "frames":
                yield FrameSet.from_message(msg)

    def warning(self) -> str | None:
        if not self._reader.truncated:
            return None
        return (f"{self._reader.path}: the last record is incomplete (cut by a crash?); "
                f"the {self._reader.records_read} complete records before it were played")

    def close(self) -> None:
        self._reader.close()
