"""Recorder sink: stores every frameset it receives, byte for byte, in a .dmsrec file."""
from __future__ import annotations

from pathlib import Path

from monitor.bus import Policy
from monitor.recording import RecordingWriter
from monitor.workers.base import Worker

RECORDING_FILE = "recording.dmsrec"


class RecorderWorker(Worker):
    role = "recorder"

    def setup(self) -> None:
        path = Path(self.config.out_dir) / RECORDING_FILE
        if self.config.incarnation:  # keep what the crashed incarnation wrote
            path = path.with_name(f"recording.{self.config.incarnation}.dmsrec")
        self.writer = RecordingWriter(path, {"source": self.config.source})
        self.rx = self.add_receiver("capture", Policy.REPLAY)  # take every message, never "newest only"

    def step(self) -> bool:
        msg = self.next_message(self.rx)
        if msg is None:
            return not self.end_of_stream
        msg.stamps.pop("recorder.in", None)
        self.writer.write(msg)  # the frameset as received: same pixels, ids, timestamps and metadata
        self.counters["processed"] += 1
        return True

    def teardown(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
