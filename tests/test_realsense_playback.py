"""RealSense recordings written with software_device + recorder replay frame-exactly."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from monitor.sources import SourceError, open_source
from monitor.sources.realsense import RealSensePlaybackSource
from monitor.sources.realsense_writer import write_realsense_recording
from tests.realsense_helpers import assert_same_frames, make_framesets, needs_legacy, write_legacy_bag


@pytest.fixture(scope="module")
def db3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    frames = make_framesets(40, seed=1)
    path = tmp_path_factory.mktemp("rs") / "rec.db3"
    assert write_realsense_recording(path, frames) == 40
    return path, frames


def test_db3_round_trip_is_frame_exact_through_the_registry(db3: tuple[Path, list]) -> None:
    path, frames = db3
    with open_source(str(path)) as source:
        assert isinstance(source, RealSensePlaybackSource) and not source.is_live
        got = list(source)
        assert source.unpaired == 0
    assert_same_frames(frames, got)


@needs_legacy
def test_bag_round_trip_is_frame_exact(tmp_path: Path) -> None:
    frames = make_framesets(30, seed=2, depth_unit_mm=0.1)
    path = write_legacy_bag(tmp_path, frames)
    with open_source(str(path)) as source:
        got = list(source)
    assert_same_frames(frames, got)


def test_full_size_frames_round_trip(tmp_path: Path) -> None:
    frames = make_framesets(4, width=848, height=480, seed=3)
    path = tmp_path / "full.db3"
    write_realsense_recording(path, frames, fps=90)
    with RealSensePlaybackSource(str(path)) as source:
        assert_same_frames(frames, list(source))


@pytest.mark.parametrize("names", [("ir",), ("depth",)])
def test_single_stream_recordings_play(tmp_path: Path, names: tuple[str, ...]) -> None:
    frames = make_framesets(6, seed=4, names=names)
    path = tmp_path / "one.db3"
    write_realsense_recording(path, frames)
    with RealSensePlaybackSource(str(path)) as source:
        assert_same_frames(frames, list(source))


def test_a_slow_consumer_loses_nothing(db3: tuple[Path, list]) -> None:
    # the reader blocks librealsense instead of dropping when the consumer lags
    path, frames = db3
    got = []
    with RealSensePlaybackSource(str(path)) as source:
        for fs in source:
            got.append(fs)
            if len(got) <= 12:  # longer than the internal queue
                time.sleep(0.02)
    assert_same_frames(frames, got)


def test_stopping_early_and_closing_does_not_hang(db3: tuple[Path, list]) -> None:
    path, frames = db3
    source = RealSensePlaybackSource(str(path))
    it = iter(source)
    first = [next(it) for _ in range(3)]
    assert [f.frame for f in first] == [f.frame for f in frames[:3]]
    it.close()
    source.close()
    source.close()  # twice is fine


def test_a_source_iterates_once(db3: tuple[Path, list]) -> None:
    path, _ = db3
    with RealSensePlaybackSource(str(path)) as source:
        list(source)
        with pytest.raises(SourceError, match="once"):
            list(source)


def test_realtime_playback_keeps_order(db3: tuple[Path, list]) -> None:
    path, frames = db3
    with RealSensePlaybackSource(str(path), realtime="true") as source:
        got = [f.frame for f in source]
    assert got and got == sorted(got) and set(got) <= {f.frame for f in frames}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such recording"):
        open_source(str(tmp_path / "absent.db3"))


def test_wrong_extension(tmp_path: Path, db3: tuple[Path, list]) -> None:
    other = tmp_path / "rec.mp4"
    shutil.copy(db3[0], other)
    with pytest.raises(SourceError, match=r"\.bag .*\.db3"):
        RealSensePlaybackSource(str(other))


@pytest.mark.parametrize("name,content", [
    ("noise.db3", np.random.default_rng(0).bytes(5000)),
    ("noise.bag", np.random.default_rng(0).bytes(5000)),
    ("text.bag", b"hello\n"),
    ("empty.db3", b""),
])
def test_corrupt_files(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError, match="cannot read this recording"):
        open_source(str(path))


def test_truncated_db3(tmp_path: Path, db3: tuple[Path, list]) -> None:
    data = db3[0].read_bytes()
    path = tmp_path / "cut.db3"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(SourceError, match="cannot read this recording"):
        open_source(str(path))


def test_db3_renamed_to_bag_is_refused(tmp_path: Path, db3: tuple[Path, list]) -> None:
    path = tmp_path / "wrong.bag"
    shutil.copy(db3[0], path)
    with pytest.raises(SourceError, match="cannot read this recording"):
        open_source(str(path))
