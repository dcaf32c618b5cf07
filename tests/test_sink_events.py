"""events.jsonl pairs every start with an end (monitor/workers/sink.py)."""
import json
from pathlib import Path

import pytest

from monitor.summary import read_results
from monitor.workers.sink import SinkWorker, closing_event, open_episodes, result_record

CABIN = Path(__file__).resolve().parents[1] / "calib/layouts/synthetic_cabin.json"
START = {"kind": "long_distraction", "phase": "start", "start_s": 18.4, "criterion_met_s": 21.4,
         "detected_s": 21.4, "end_s": None, "duration_s": None}


def test_open_episodes_and_their_closing_event():
    """What is still open when the stream ends gets an end at the last frame, marked open_at_end;
    episodes that ended are left alone."""
    vats = {**START, "kind": "vats", "start_s": 5.0}
    vats_end = {**vats, "phase": "end", "end_s": 30.0, "duration_s": 25.0}
    assert open_episodes([START, vats, vats_end]) == {("long_distraction", 18.4): START}
    assert open_episodes([START, {**START, "phase": "end", "end_s": 22.0}]) == {}
    end = closing_event(START, 21.6)
    assert end == {**START, "phase": "end", "detected_s": 21.6, "end_s": 21.6, "duration_s": pytest.approx(3.2),
                   "open_at_end": True}


def _sink_with(path, state):
    """A sink at teardown time, without its sockets: what it wrote so far is one start event."""
    sink = object.__new__(SinkWorker)
    sink.state, sink.open, sink.last_t_s = state, {}, 21.6
    sink.events = open(path, "a", encoding="utf-8")
    sink._write_event(START)
    return sink


@pytest.mark.parametrize("state, closed", [("done", True), ("stopped", True), ("failed", False), ("fatal", False)])
def test_only_a_real_end_closes_open_episodes(tmp_path, state, closed):
    """A crashed sink is replaced and its successor writes the end the gaze stage still sends:
    closing the episode then would give it two ends."""
    path = tmp_path / "events.jsonl"
    _sink_with(path, state).teardown()
    events = list(read_results(path))
    assert [e["phase"] for e in events] == (["start", "end"] if closed else ["start"])
    if closed:
        assert events[1]["open_at_end"] is True and events[1]["end_s"] == 21.6
    # a successor (restarted sink) finds what is still open in the file
    assert open_episodes(events) == ({} if closed else {("long_distraction", 18.4): START})


def test_a_second_start_of_the_same_kind_ends_the_first_as_lost(tmp_path):
    """A restarted gaze/state worker forgets its open episode and may raise a new one of the same
    kind: the old one gets an end marked end_lost (when it ended is unknown), so episodes of one
    kind never overlap in events.jsonl."""
    path = tmp_path / "events.jsonl"
    sink = _sink_with(path, "done")
    again = {**START, "start_s": 25.0, "criterion_met_s": 28.0, "detected_s": 28.0}
    sink._write_event(again)
    sink._write_event({**START, "kind": "vats", "start_s": 20.0})  # another kind: no effect on the first
    sink.teardown()
    events = list(read_results(path))
    assert [(e["kind"], e["phase"], e["start_s"]) for e in events] == [
        ("long_distraction", "start", 18.4), ("long_distraction", "end", 18.4), ("long_distraction", "start", 25.0),
        ("vats", "start", 20.0), ("long_distraction", "end", 25.0), ("vats", "end", 20.0)]
    assert events[1]["end_lost"] is True and events[1]["end_s"] is None and events[1]["detected_s"] == 28.0
    assert all(e.get("open_at_end") for e in events[4:])


def test_events_are_reread_up_to_a_line_cut_by_a_crash(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(START) + "\n" + '{"kind": "vats", "pha')
    assert list(read_results(path)) == [START]
    assert list(read_results(tmp_path / "missing.jsonl")) == []


@pytest.mark.slow
def test_a_stream_that_ends_mid_distraction_leaves_a_closed_episode(tmp_path):
    """The default drive cut at frame 650 (21.63 s), inside its long distraction (18.4-21.73 s):
    the shipped models raise it, and the sink ends it at the last frame."""
    from pipeline_helpers import run
    from monitor.gaze.evaluate_run import read_jsonl
    code, output = run(tmp_path / "run", "--source", "synthetic:frames=650", "--fast", timeout=240)
    assert code == 0, output
    events = read_jsonl(tmp_path / "run" / "events.jsonl")
    assert [(e["kind"], e["phase"]) for e in events] == [("long_distraction", "start"), ("long_distraction", "end")]
    assert events[1]["open_at_end"] is True and events[1]["end_s"] == pytest.approx(649 / 30.0)
    assert "open_at_end" not in events[0]


def test_a_results_line_carries_the_events_raised_on_its_frame():
    """Events go into results.jsonl as well as events.jsonl: on the frame the stage raised them."""
    meta = {"gaze": {"zone": "dashboard"}, "state": {"long_distraction": True}, "events": [START]}
    assert result_record("cam", 642, 21400.0, {"capture.in": 1}, meta)["events"] == [START]
    assert result_record("cam", 643, 21433.3, {"capture.in": 2}, {**meta, "events": []})["events"] == []
    assert result_record("cam", 644, 21466.7, {"capture.in": 3}, {"gaze": None})["events"] == []


def _feed(sink, stage_for, script, fps=30.0):
    """Frames of ``script`` ([(zone, seconds)]) through real gaze stages (``stage_for(t)`` gives
    the stage of that moment: a new one stands for a restarted gaze worker) into the sink's event
    handling, as SinkWorker.step does it."""
    from calib.layout import load_layout
    from gaze_fakes import looking_at
    layout = load_layout(CABIN)
    zones = [z for z, d in script for _ in range(int(round(d * fps)))]
    for i, zone in enumerate(zones):
        t = 100.0 + i / fps
        _, state, events = stage_for(t).process(looking_at(layout, zone), t)
        sink.last_t_s = t
        for e in events:
            sink._write_event(e.to_json())
        sink._end_forgotten_episodes(state.to_json())


def _bare_sink(path):
    sink = object.__new__(SinkWorker)
    sink.state, sink.open, sink.last_t_s = "done", {}, None
    sink.events = open(path, "a", encoding="utf-8")
    return sink


def test_an_episode_the_restarted_gaze_worker_forgot_ends_as_lost_at_once(tmp_path):
    """The restarted stage's state says no long distraction is open: the old episode ends there
    (end_lost) instead of lasting, open, until the end of the run. With one stage throughout,
    every episode ends with the stage's own end event (nothing is cut)."""
    from calib.layout import load_layout
    from monitor.gaze import GazeStateStage
    layout = load_layout(CABIN)
    script = [("road", 3.0), ("media_centre", 6.0), ("road", 3.0)]  # long distraction from 103 s
    path = tmp_path / "one_stage.jsonl"
    sink, stage = _bare_sink(path), GazeStateStage(layout)
    _feed(sink, lambda t: stage, script)
    sink.teardown()
    events = list(read_results(path))
    assert [(e["kind"], e["phase"]) for e in events] == [("long_distraction", "start"), ("long_distraction", "end")]
    assert not any(e.get("end_lost") or e.get("open_at_end") for e in events)

    path = tmp_path / "restarted.jsonl"
    sink, stages = _bare_sink(path), {"old": GazeStateStage(layout), "new": GazeStateStage(layout)}
    _feed(sink, lambda t: stages["old" if t < 107.0 else "new"], script)  # restarted at 107 s, mid-episode
    sink.teardown()
    events = list(read_results(path))
    assert [(e["kind"], e["phase"]) for e in events] == [("long_distraction", "start"), ("long_distraction", "end")]
    assert events[1]["end_lost"] is True and events[1]["end_s"] is None
    assert events[1]["detected_s"] == pytest.approx(107.0)
