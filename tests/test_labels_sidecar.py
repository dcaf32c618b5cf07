"""PATH.labels.jsonl beside a recording: read, validated, and carried as truth by RealSense replays."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monitor.sources import SourceError
from monitor.sources.labels import LabelsError, camera_pose_of, format_line, labels_beside, labels_path, read_sidecar
from pipeline_helpers import results, run, summary

POSE = {"rotation": [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]], "position_mm": [300.0, -500.0, 700.0]}


def test_labels_round_trip_and_sit_beside_their_recording(tmp_path: Path) -> None:
    recording = tmp_path / "drive.db3"
    assert labels_path(recording) == tmp_path / "drive.db3.labels.jsonl"
    assert labels_beside(recording) == (None, {})
    first = {"gaze_zone": "road", "camera": {"extrinsics": POSE}}
    labels_path(recording).write_text(format_line(3, first) + "\n" + format_line(7, {"gaze_zone": None}))
    path, frames = labels_beside(recording)
    assert path == labels_path(recording) and sorted(frames) == [3, 7]
    assert json.loads(frames[3]) == first and camera_pose_of(json.loads(frames[3])) == POSE
    assert camera_pose_of(json.loads(frames[7])) is None
    labels_path(recording).write_bytes(b"\xef\xbb\xbf" + format_line(1, first).encode())  # a BOM, as some editors write
    assert sorted(labels_beside(recording)[1]) == [1]


def test_a_labels_file_named_after_the_recordings_stem_is_found_too(tmp_path: Path) -> None:
    """drive.db3 + drive.labels.jsonl is how a user may read "PATH.labels.jsonl"; the full name
    (what synth.export writes) wins when both are there."""
    recording = tmp_path / "drive.db3"
    stem_named = tmp_path / "drive.labels.jsonl"
    stem_named.write_text(format_line(5, {"gaze_zone": "road"}))
    path, frames = labels_beside(recording)
    assert path == stem_named and sorted(frames) == [5]
    labels_path(recording).write_text(format_line(9, {"gaze_zone": "road"}))
    assert labels_beside(recording)[0] == labels_path(recording)


@pytest.mark.parametrize("lines, line_no, expect", [
    (["not json"], 1, "not a line of JSON"),
    (['{"frame": 1}'], 1, "expected"),
    (['{"frame": true, "labels": {}}'], 1, "expected"),
    (['{"frame": -1, "labels": {}}'], 1, "expected"),
    (['{"frame": 1.0, "labels": {}}'], 1, "expected"),
    (['{"frame": 1, "labels": []}'], 1, "expected"),
    (['[1, 2]'], 1, "expected"),
    (['{"frame": 1, "labels": {}}', "", '{"frame": 1, "labels": {}}'], 3, "labelled twice"),
    # the keys the run reads are checked as it will read them (each of these crashed the summary)
    (['{"frame": 1, "labels": {"time_s": null}}'], 1, "time_s must be a number"),
    (['{"frame": 1, "labels": {"time_s": NaN}}'], 1, "NaN is not a number a label may hold"),
    (['{"frame": 1, "labels": {"note": 1e400}}'], 1, "too large"),
    (['{"frame": 1, "labels": {"episodes": [{"kind": "long_distraction", "start_s": 1.0, "end_s": null}]}}'],
     1, "episodes must be"),
    (['{"frame": 1, "labels": {"joints": {"uv": [[1, 2]], "visible": 1}}}'], 1, "joints must be"),
    (['{"frame": 1, "labels": {"joints": {"uv": [[1, 2]], "visible": ["no"]}}}'], 1, "joints must be"),
    (['{"frame": 1, "labels": {"camera": {"extrinsics": {"rotation": [[0, 0, 0], [0, 0, 0], [0, 0, 0]], '
      '"position_mm": [0, 0, 0]}}}}'], 1, "camera.extrinsics must be"),
    (['{"frame": 1, "labels": {"camera": {"extrinsics": {"rotation": [["1", 0, 0], [0, 1, 0], [0, 0, 1]], '
      '"position_mm": [0, 0, 0]}}}}'], 1, "camera.extrinsics must be"),
    (['{"frame": 1, "labels": {"gaze_zone": 5}}'], 1, "gaze_zone must be"),
    (['{"frame": 1, "labels": {"gaze": "road"}}'], 1, "gaze must be"),
    (['{"frame": 1, "labels": {"episodes": [{"kind": "vats"}]}}'], 1, "episodes must be"),
    (['{"frame": 1, "labels": {"head": {"yaw_deg": "10"}}}'], 1, "head must be"),
    (['{"frame": 1, "labels": {"joints": {"uv": [[1, 2, 3]]}}}'], 1, "joints must be"),
    (['{"frame": 1, "labels": {"camera": {"extrinsics": {"rotation": [1, 0, 0], "translation_mm": [0, 0, 0]}}}}'],
     1, "camera.extrinsics must be"),
])
def test_a_bad_line_is_named(tmp_path: Path, lines: list[str], line_no: int, expect: str) -> None:
    path = tmp_path / "x.db3.labels.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LabelsError, match=f"line {line_no}[ :].*{expect}"):
        read_sidecar(path)


def test_partial_labels_that_the_run_can_read_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "x.db3.labels.jsonl"
    path.write_text(format_line(0, {"time_s": 0.0, "gaze_zone": "road",
                                    "episodes": [{"kind": "vats", "start_s": 1.0},
                                                 {"kind": "long_distraction", "start_s": 2.0, "end_s": 5.5}]})
                    + format_line(1, {"time_s": 0.033, "gaze": {"zone": None}, "head": {"yaw_deg": 3}})
                    + format_line(2, {"joints": {"uv": [[1.5, 2.0], [None, None]], "visible": [True, False]},
                                      "camera": {"extrinsics": POSE}, "anything": ["else", {"goes": 1}]}))
    assert sorted(read_sidecar(path)) == [0, 1, 2]


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db3.labels.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(LabelsError, match="cannot read the labels file"):
        read_sidecar(path)


def test_realsense_playback_carries_the_labels_as_truth(tmp_path: Path) -> None:
    pytest.importorskip("pyrealsense2")
    from monitor.sources import open_source
    from monitor.sources.realsense_writer import write_realsense_recording
    from tests.realsense_helpers import make_framesets

    frames = make_framesets(6, seed=5)
    path = tmp_path / "rec.db3"
    write_realsense_recording(path, frames)
    second, fourth = frames[1].frame, frames[3].frame
    labels_path(path).write_text(format_line(second, {"gaze_zone": "road"})  # no time_s: the recording's clock
                                 + format_line(fourth, {"time_s": 7.5, "gaze_zone": "dashboard",
                                                        "camera": {"extrinsics": POSE}})
                                 + format_line(10**6, {"gaze_zone": "road"}))  # a frame the file lacks: unused
    with open_source(str(path)) as source:
        played = list(source)
        assert (source.played, source.labelled, source.labels_file) == (6, 2, labels_path(path))
        assert source.warning() is None
    by_frame = {fs.frame: fs for fs in played}
    assert len(played) == 6
    since_first_s = round((frames[1].device_ts_ms - frames[0].device_ts_ms) / 1000.0, 6)
    assert by_frame[second].truth == {"gaze_zone": "road", "time_s": since_first_s}
    assert by_frame[second].truth_text is None and "camera_pose" not in by_frame[second].extra
    assert by_frame[fourth].truth["gaze_zone"] == "dashboard" and by_frame[fourth].extra["camera_pose"] == POSE
    assert by_frame[fourth].truth["time_s"] == 7.5 and json.loads(by_frame[fourth].truth_text) == by_frame[fourth].truth
    assert [fs.frame for fs in played if fs.truth is None] == [f.frame for f in frames if f.frame not in (second, fourth)]


def test_a_db3_export_replays_exactly_like_its_synthetic_scene(tmp_path: Path, models: list[str]) -> None:
    """synth.export writes pixels and labels; the replay's results (estimates, zones, truth) are
    those of the synthetic source itself, and the summary names the labels file."""
    pytest.importorskip("pyrealsense2")
    from synth.export import export

    spec = "seed=7,scenario=drive,frames=24,width=320,height=240"
    db3 = tmp_path / "drive.db3"
    assert export(db3, spec) == 24
    code, output = run(tmp_path / "replay", "--source", str(db3), "--fast", *models)
    assert code == 0, output
    code, output = run(tmp_path / "live", "--source", f"synthetic:{spec}", "--fast", *models)
    assert code == 0, output
    replay, direct = results(tmp_path / "replay"), results(tmp_path / "live")
    assert [r["frame"] for r in replay] == [r["frame"] for r in direct] == list(range(24))
    for a, b in zip(replay, direct):
        assert a["truth"] == b["truth"] and a["truth"] is not None
        # The same pixels; librealsense keeps the intrinsics as float32, so 3D figures may differ
        # in their last printed digit ...
        for key in ("uv", "xyz_mm", "confidence"):
            np.testing.assert_allclose(_numbers(a["estimates"]["joints"][key]),
                                       _numbers(b["estimates"]["joints"][key]), atol=1e-3)
        assert (a["estimates"]["head"] is None) == (b["estimates"]["head"] is None)
        assert (a["gaze"]["zone"], a["gaze"]["raw_zone"]) == (b["gaze"]["zone"], b["gaze"]["raw_zone"])
        # ... and the timestamps are stored to the microsecond (docs/realsense.md)
        assert a["state"] == {k: pytest.approx(v, abs=1e-6) if isinstance(v, float) else v
                              for k, v in b["state"].items()}
    assert summary(tmp_path / "replay")["run"]["labels"] == str(labels_path(db3))
    assert "labels" not in summary(tmp_path / "live")["run"]


def _numbers(rows: list) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] if isinstance(row, list) else
                     [np.nan if row is None else row] for row in rows], dtype=float)


def test_labels_that_match_no_frame_are_a_warning(tmp_path: Path, models: list[str]) -> None:
    """A labels file numbered from 0 beside a camera recording (frames numbered from 1000 on)
    labels nothing: the run says so in summary.json instead of quietly reporting no accuracy."""
    pytest.importorskip("pyrealsense2")
    from monitor.sources.realsense_writer import write_realsense_recording
    from tests.realsense_helpers import make_framesets

    frames = make_framesets(4, seed=7)
    db3 = tmp_path / "rec.db3"
    write_realsense_recording(db3, frames)
    labels_path(db3).write_text("".join(format_line(i, {"time_s": i / 30, "gaze_zone": "road"}) for i in range(4)))
    code, output = run(tmp_path / "run", "--source", str(db3), "--fast", *models, timeout=60)
    assert code == 0, output
    s = summary(tmp_path / "run")
    assert "accuracy" not in s and s["run"]["labels"] == str(labels_path(db3))
    assert any(f"labels none of the 4 frames played: it labels frames 0-3, the frames played were numbered "
               f"{frames[0].frame}-{frames[-1].frame}" in w for w in s["warnings"]), s["warnings"]


def test_a_failed_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import synth.export
    from synth.export import export, main

    with pytest.raises(SourceError, match="the scene has no frames"):
        export(tmp_path / "empty.dmsrec", "duration=0")
    assert main(["--out", str(tmp_path / "x.dmsrec"), "--spec", "seed=1,frames=2,loop=1"]) == 2
    (tmp_path / "file").write_text("")
    assert main(["--out", str(tmp_path / "file" / "x.dmsrec"), "--frames", "2"]) == 2
    # an export that fails while writing (a full disk, Ctrl-C) leaves no half-written recording or
    # labels, and what was at that path before is untouched
    (tmp_path / "cut.dmsrec").write_bytes(b"an earlier recording")
    labels_path(tmp_path / "cut.dmsrec").write_text("its labels")
    monkeypatch.setattr(synth.export, "Progress", _FailingAfterOneFrame)
    with pytest.raises(KeyboardInterrupt):
        export(tmp_path / "cut.dmsrec", "seed=1,frames=3,width=160,height=120", progress=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.dmsrec", "cut.dmsrec.labels.jsonl", "file"]
    assert (tmp_path / "cut.dmsrec").read_bytes() == b"an earlier recording"
    assert labels_path(tmp_path / "cut.dmsrec").read_text() == "its labels"


class _FailingAfterOneFrame:
    def __init__(self, total: int, label: str) -> None:
        pass

    def update(self) -> None:
        raise KeyboardInterrupt


def test_a_spec_that_names_its_kind_is_that_kind_whatever_it_ends_in() -> None:
    from monitor.sources import parse_spec

    assert parse_spec("synthetic:seed=1,stream=a.db3") == ("synthetic", {"seed": "1", "stream": "a.db3"})
    assert parse_spec("runs/synthetic.db3") == ("rsfile", {"path": "runs/synthetic.db3"})


def test_a_bad_labels_file_stops_the_run_before_it_starts(tmp_path: Path, models: list[str]) -> None:
    pytest.importorskip("pyrealsense2")
    from monitor.sources.realsense_writer import write_realsense_recording
    from tests.realsense_helpers import make_framesets

    db3 = tmp_path / "rec.db3"
    write_realsense_recording(db3, make_framesets(4, seed=6))
    labels_path(db3).write_text('{"frame": 1}\n')
    out = tmp_path / "run"
    code, output = run(out, "--source", str(db3), "--fast", *models, timeout=60)
    assert code == 2, output
    assert "rec.db3.labels.jsonl line 1" in output and "Traceback" not in output
    assert not out.exists()


def test_partial_truth_scores_what_it_has() -> None:
    """A user's labels may hold only some keys: heads without all three angles and joints without
    visibility still give a summary, scoring only what is there."""
    from monitor.summary import evaluate_against_truth

    est = {"head": {"yaw_deg": 10.0, "pitch_deg": 0.0, "roll_deg": 0.0},
           "joints": {"uv": [[10.0, 10.0], [None, None]]}}
    records = [
        {"truth": {"head": {"yaw_deg": 1.0}}, "estimates": est},  # not all angles: not scored
        {"truth": {"head": {"yaw_deg": 8.0, "pitch_deg": 0.0, "roll_deg": 0.0}}, "estimates": est},
        {"truth": {"joints": {"names": []}}, "estimates": est},  # no uv: not scored
        {"truth": {"joints": {"uv": [[13.0, 14.0], [5.0, 5.0]]}}, "estimates": est},  # no visible: all count
        {"truth": {"gaze_zone": "road"}, "estimates": {}},
    ]
    result = evaluate_against_truth(records)
    assert result["frames_with_truth"] == 5 and result["head_missed"] == 0
    assert result["head_pose_mae_deg"] == {"yaw": 2.0, "pitch": 0.0, "roll": 0.0, "avg": 0.667}
    assert result["joint_error_px"]["n"] == 1 and result["joint_error_px"]["p50"] == 5.0
