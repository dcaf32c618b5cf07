"""results.csv and report.html as pure functions of a run's records."""
import csv
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from monitor.display.export import flat_row, main, write_csv, write_exports
from monitor.display.report import envelope, nice_ticks, render_report, segments, zone_accuracy


def record(i, zone="road", truth_zone="road", head=True):
    return {
        "stream": "s", "frame": i, "device_ts_ms": 1000.0 + 33.3 * i, "capture_ns": 10**9 + i,
        "estimates": {"head": {"yaw_deg": float(i), "pitch_deg": -1.0, "roll_deg": 0.5, "center_px": [10, 20],
                               "position_mm": None} if head else None, "joints": None},
        "gaze": {"zone": zone, "raw_zone": zone, "zone_since_s": 0.0, "probabilities": {"road": 0.7, "other": 0.3},
                 "gaze_azimuth_deg": 1.0, "gaze_elevation_deg": 2.0},
        "state": {"on_road": zone == "road", "off_road_s": 0.0, "off_road_window_s": 0.0,
                  "long_distraction": False, "vats": False, "head_missing_s": 0.0},
        "latency_ms": {"estimator": 5.0 + (i % 7), "end_to_end": 9.0 + (i % 11)},
        "truth": {"head": {"yaw_deg": float(i) + 1, "pitch_deg": 0.0, "roll_deg": 0.0}, "gaze_zone": truth_zone},
    }


def test_flat_row_has_plain_cells():
    row = flat_row(record(3))
    assert row["head_yaw_deg"] == 3.0 and row["head_u_px"] == 10 and row["head_x_mm"] is None
    assert row["gaze_zone"] == "road" and row["p_other"] == 0.3 and row["state_on_road"] is True
    assert row["latency_end_to_end_ms"] == 12.0 and row["truth_head_yaw_deg"] == 4.0
    assert row["truth_gaze_zone"] == "road"


def test_csv_has_one_row_per_record_and_a_union_of_columns(tmp_path):
    records = [record(0), record(1, head=False), {**record(2), "gaze": {"zone": "x", "probabilities": {"new": 1.0}}}]
    n = write_csv(records, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == 3
    assert rows[1]["head_yaw_deg"] == "" and rows[0]["state_on_road"] == "1"
    assert rows[2]["p_new"] == "1.0" and rows[0]["p_new"] == ""
    assert not (tmp_path / "r.csv.tmp").exists()


def test_report_is_html_with_well_formed_svg_plots_and_tables():
    records = [record(i, zone="road" if i < 50 else "dashboard", truth_zone="road" if i < 45 else "dashboard")
               for i in range(100)]
    summary = {"exit_code": 0, "run": {"source": "x", "policy": "replay"}, "frames": {"captured": 100},
               "latency_ms": {"end_to_end": {"n": 100, "p50": 1.0, "p99": 2.0}},
               "stages": {"capture": {"processed": 100}}, "accuracy": {"frames_with_truth": 100}, "warnings": ["w<1>"]}
    events = [{"kind": "long_distraction", "phase": "start", "start_s": 1.0, "criterion_met_s": 4.0}]
    page = render_report(records, events, summary)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "w&lt;1&gt;" in page  # escaped
    svgs = [page[i:page.index("</svg>", i) + 6] for i in range(len(page)) if page.startswith("<svg", i)]
    assert len(svgs) == 3
    for svg in svgs:
        ET.fromstring(svg)
    assert "zone dashboard" in svgs[0] and "yaw truth" in svgs[0]
    assert "long_distraction" in page and "0.950 of 100" in page  # zone accuracy: 95 of 100 frames agree


def test_zone_accuracy_ignores_frames_without_a_true_zone():
    recs = [record(0, "road", "road"), record(1, "road", None), record(2, "dashboard", "road")]
    assert zone_accuracy(recs) == {"frames": 2, "accuracy": 0.5}
    assert zone_accuracy([{"gaze": {"zone": "road"}}]) is None


def test_report_of_an_empty_run_says_so():
    assert "No frames were processed" in render_report([], [], {})


def test_envelope_keeps_spikes_and_bounds_points():
    x = np.arange(100_000, dtype=float)
    y = np.zeros_like(x)
    y[54_321] = 99.0
    xs, ys = envelope(x, y, 1000)
    assert len(xs) <= 1000 and ys.max() == 99.0 and np.all(np.diff(xs) > 0)


def test_segments_and_ticks():
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert segments(t, ["a", "a", "b", "b", "a"]) == [(0.0, 2.0, "a"), (2.0, 4.0, "b"), (4.0, 4.0, "a")]
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_exports_from_a_run_folder_on_the_command_line(tmp_path, capsys):
    with open(tmp_path / "results.jsonl", "w") as f:
        for i in range(5):
            f.write(json.dumps(record(i)) + "\n")
        f.write('{"cut by a cra')  # a crash can cut the last line: skipped
    (tmp_path / "events.jsonl").write_text("")
    assert main([str(tmp_path)]) == 0
    with open(tmp_path / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 5
    assert (tmp_path / "report.html").exists()
    assert main([str(tmp_path / "nothing")]) == 2
    assert [p.name for p in write_exports(tmp_path)] == ["results.csv", "report.html"]
    with pytest.raises(SystemExit) as help_exit:  # --help is help, not a run folder
        main(["--help"])
    assert help_exit.value.code == 0 and "RUN_DIR" in capsys.readouterr().out


def test_display_section_sums_incarnations_and_reads_the_capture_link():
    from monitor.display.stats import display_report, format_display
    beat = lambda shown, video, skipped, gaps: {  # noqa: E731
        "counters": {"shown": shown, "video_frames": video, "cpu_s": 0.5,
                     "join": {"skipped_frames": skipped, "gaps": gaps}},
        "info": {"window": True, "lossless": False, "window_rect": [0, 0, 10, 10]}}
    reports = {"display": {"restarts": 1, "incarnations": [beat(10, 10, 2, 1), beat(5, 5, 1, 0)]},
               "capture": {"restarts": 0, "incarnations": [
                   {"links": {"out:display": {"stale_dropped": 3, "send_dropped": 1},
                              "out:estimator": {"stale_dropped": 100}}}]}}
    d = display_report(reports)
    assert d["frames_shown"] == 15 and d["video_frames"] == 15 and d["skipped_by_display"] == 3
    assert d["dropped_upstream"] == 4 and d["gaps_seen"] == 1 and d["restarts"] == 1 and d["cpu_s"] == 1.0
    assert d["window"] and d["window_rect"] == [0, 0, 10, 10]
    assert "15 shown" in format_display(d) and "4 dropped" in format_display(d)
