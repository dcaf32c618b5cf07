"""The benchmark's pieces on their own: figures from records, paced inputs, /proc sampling, plots."""
import os
import time

import cv2
import numpy as np
import pytest

from fixtures import write_recording
from monitor.bench import stats
from monitor.bench.cache import paced_recording
from monitor.bench.pipeline import parse_body_models, parse_resolutions, variant_path
from monitor.bench.plots import cdf_plot, stacked_bars, timeline
from monitor.bench.procstat import ProcSampler, read_proc
from monitor.bench.report import acceptance, markdown
from monitor.recording import RecordingReader


def record(frame, cap_ms, ts_ms, lat, timings):
    return {"frame": frame, "capture_ns": int(cap_ms * 1e6), "device_ts_ms": ts_ms, "latency_ms": lat,
            "timings_ms": timings}


LAT = {"capture": 0.2, "transport.capture>estimator": 0.5, "estimator": 10.0, "transport.estimator>gaze": 0.4,
       "gaze": 0.3, "transport.gaze>sink": 0.6, "end_to_end": 12.0}


def test_frame_figures_split_the_estimator_and_partition_end_to_end():
    f = stats.frame_figures(record(0, 0, 0, LAT, {"pre": 1.0, "body": 6.0, "head": 2.5}))
    assert f["infer.body"] == 6.0 and f["infer.head"] == 2.5
    assert f[stats.PRE_POST] == pytest.approx(1.5)  # estimator minus inference, whatever "pre" says
    assert f[stats.OVERHEAD] == pytest.approx(3.5)
    parts = stats.stage_order(f)
    assert parts[0] == "capture" and parts[-1] == "transport.gaze>sink"
    assert sum(f[k] for k in parts) == pytest.approx(f[stats.E2E])


def test_collect_skips_warmup_and_measures_schedule_lag():
    recs = [record(i, 100 + i * 10 + (5 if i == 3 else 0), i * 10.0, LAT, {"body": 6.0}) for i in range(5)]
    s = stats.collect(recs, warmup=2)
    assert len(s[stats.E2E]) == 3
    assert s[stats.SCHEDULE_LAG] == pytest.approx([0.0, 5.0, 0.0])
    assert s[stats.E2E_SCHEDULED] == pytest.approx([12.0, 17.0, 12.0])
    assert "infer.head" not in s
    assert stats.SCHEDULE_LAG not in stats.collect(recs, 2, paced=False)
    r = stats.rates(recs, 0)
    assert r["capture_fps"] == pytest.approx(4 / 0.040, rel=1e-3)


def test_mean_breakdown_counts_a_model_that_did_not_run_as_zero():
    recs = [record(0, 0, 0, LAT, {"body": 6.0, "head": 2.0}), record(1, 10, 10, LAT, {"body": 6.0})]
    s = stats.collect(recs, 0)
    b = stats.mean_breakdown(s)
    assert b["infer.head"] == pytest.approx(1.0)
    assert sum(b.values()) == pytest.approx(12.0)


def test_paced_recording_cycles_frames_at_the_asked_rate(tmp_path):
    base = write_recording(tmp_path / "base.dmsrec", 3, width=64, height=48)
    out = paced_recording(base, tmp_path / "paced.dmsrec", 90.0, 7)
    with RecordingReader(out) as r:
        msgs = list(r)
    assert [m.frame for m in msgs] == list(range(7))
    assert [m.device_ts_ms for m in msgs] == pytest.approx([i * 1000 / 90 for i in range(7)])
    with RecordingReader(base) as r:
        first = next(iter(r))
    assert np.array_equal(msgs[3].arrays["ir"], first.arrays["ir"])  # frame 3 is base frame 0 again
    with pytest.raises(ValueError, match="fps"):
        paced_recording(base, tmp_path / "x.dmsrec", 0, 5)


def test_proc_sampler_measures_a_busy_process():
    assert read_proc(os.getpid())[1] > 1000  # KiB
    with ProcSampler(lambda: {"me": os.getpid()}, interval_s=0.02) as sampler:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            pass
    u = sampler.usage()["me"]
    assert u["samples"] >= 5 and u["cpu_percent"] > 10 and u["rss_mib_max"] > 1
    assert read_proc(2**22 + 12345) is None  # a pid that cannot exist


def test_option_parsing():
    assert parse_resolutions("640x480, 848x480") == [(640, 480), (848, 480)]
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_resolutions("640")
    models = parse_body_models(["/m/a.onnx", "full=/m/b.onnx"])
    assert str(models["lite"]) == "/m/a.onnx" and str(models["full"]) == "/m/b.onnx"
    assert variant_path(models["lite"], "fp16").name == "a.fp16.onnx"


def _entry(name, e2e_p99=12.0):
    s = stats.collect([record(i, i * 33.3, i * 33.3, LAT, {"body": 6.0}) for i in range(20)], 0)
    return {"name": name, "status": "ok", "exit_code": 0,
            "params": {"provider": "cpu", "body": "lite", "fps": 30.0, "resolution": "640x480",
                       "policy": "replay", "realtime": True},
            "frames": {"captured": 20, "processed": 20, "lost": 0, "measured": 20},
            "rates": {"capture_fps": 30.0, "output_fps": 30.0},
            "latency_ms": {**stats.summarise(s), stats.E2E: {"n": 20, "p50": 12.0, "p90": 12.0, "p99": e2e_p99,
                                                             "max": e2e_p99, "mean": 12.0}},
            "breakdown_mean_ms": stats.mean_breakdown(s), "drops": {"capture": 0}, "errors": {}, "restarts": {},
            "processes": {}, "models": [], "providers_used": ["CPUExecutionProvider"],
            "series": {"t_s": [i / 30 for i in range(20)], "end_to_end": [12.0] * 20, "inference": [6.0] * 20},
            "samples": s}


def test_acceptance_checks_and_markdown():
    machine = {"cpu": {"model": "X", "logical_cores": 2, "usable_cores": 2}, "memory_gib": 1, "load_average": [1, 1, 1],
               "gpu": [], "versions": {"onnxruntime": "1"}}
    result = {"machine": machine, "settings": {"frames": 20, "warmup": 0, "policy": "replay"},
              "configs": [_entry("good"), _entry("slow", 80.0)],
              "baselines": {"transport": [{"resolution": "848x480", "cases": [],
                                           "throughput_ratio_bus_over_imagezmq": 1.2}]}}
    checks = acceptance(result)
    e2e = [c["pass"] for c in checks if c["check"].startswith("end-to-end")]
    assert e2e == [True, False]
    assert [c["pass"] for c in checks if "imagezmq" in c["check"]] == [False]
    md = markdown(result)
    assert "| good |" in md and "FAIL" in md and "### slow" in md


def test_plots_draw_something():
    e = _entry("a")
    for img in (cdf_plot(e), stacked_bars([e, _entry("b")]), timeline(e)):
        assert img.shape == (620, 1100, 3) and img.dtype == np.uint8
        assert (img < 200).any(axis=2).mean() > 0.01  # lines and bars, not an empty canvas
        assert cv2.imencode(".png", img)[0]


def test_session_knobs_from_the_environment(tmp_path, monkeypatch):
    from monitor.estimator.session import ENV_THREADS, ENV_TRT_CACHE, ModelLoadError, OnnxModel, provider_entries
    from onnx_factory import head_model

    path = head_model(tmp_path / "head.onnx")
    monkeypatch.setenv(ENV_THREADS, "1")
    assert OnnxModel(path, ["cpu"]).session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv(ENV_THREADS, "many")
    with pytest.raises(ModelLoadError, match=ENV_THREADS):
        OnnxModel(path, ["cpu"])
    monkeypatch.delenv(ENV_THREADS)
    assert provider_entries(["TensorrtExecutionProvider", "CPUExecutionProvider"]) == [
        "TensorrtExecutionProvider", "CPUExecutionProvider"]
    cache = tmp_path / "engines"
    monkeypatch.setenv(ENV_TRT_CACHE, str(cache))
    (name, options), cpu = provider_entries(["TensorrtExecutionProvider", "CPUExecutionProvider"])
    assert name == "TensorrtExecutionProvider" and cpu == "CPUExecutionProvider"
    assert options["trt_engine_cache_enable"] and options["trt_engine_cache_path"] == str(cache)
    assert cache.is_dir()


def test_warmup_is_frames_or_seconds_of_frames():
    from monitor.bench.pipeline import parse_warmup
    from monitor.bench.report import _warmup_words
    assert parse_warmup("30") == (30, "frames") and parse_warmup("6s") == (6, "seconds")
    assert _warmup_words("6s") == "6 s of frames" and _warmup_words(30) == "30 frames"
    for bad in ("-1", "six", "s"):
        with pytest.raises(ValueError):
            parse_warmup(bad)


def test_head_flip_is_a_sweep_axis(tmp_path):
    """--head-flip-test on,off: each configuration twice, named apart, its setting in the params
    (the runtime's default, on, is what a plain sweep measures)."""
    from monitor.bench.pipeline import Bench, build_parser
    args = build_parser().parse_args(["--out", str(tmp_path), "--head-flip-test", "on,off", "--providers", "cpu"])
    cases = Bench(args, tmp_path).cases()
    assert [c.head_flip for c in cases] == [True, False]
    assert cases[1].name == cases[0].name.replace("-640x480", "-noflip-640x480")
    assert cases[1].params()["head_flip"] is False
    plain = Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu"]), tmp_path).cases()
    assert [c.head_flip for c in plain] == [True]
    with pytest.raises(ValueError, match="--head-flip-test"):
        Bench(build_parser().parse_args(["--out", str(tmp_path), "--head-flip-test", "maybe"]), tmp_path)


@pytest.mark.parametrize("extra, expect", [
    (["--frames", "11"], "--frames must be >= 12"),
    (["--baseline-frames", "5"], "--baseline-frames must be >= 12"),
])
def test_too_few_frames_for_any_figure_are_refused(tmp_path, extra, expect):
    """A transport case times all but its first TRANSPORT_SKIP framesets: fewer would print
    empty figures instead of an error."""
    from monitor.bench.baselines import TRANSPORT_SKIP
    from monitor.bench.pipeline import Bench, build_parser
    assert TRANSPORT_SKIP + 2 == 12
    with pytest.raises(ValueError, match=expect):
        Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu", *extra]), tmp_path)
    Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu", "--no-baselines",
                                     "--frames", "5", "--baseline-frames", "5"]), tmp_path)  # no baselines: not needed


def test_bench_eye_model_option_follows_run_monitor(tmp_path):
    """--eye-model: the shipped model by default (and for an empty option), "none" without one."""
    from monitor.bench.pipeline import Bench, build_parser
    from monitor.estimator.pipeline import DEFAULT_EYE_MODEL

    def eye(*extra):
        return Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu", *extra]), tmp_path).eye_model

    assert eye() == str(DEFAULT_EYE_MODEL) == eye("--eye-model", "")
    assert eye("--eye-model", "none") == "" == eye("--eye-model", "None")
    assert eye("--eye-model", "my_eyes.onnx") == "my_eyes.onnx"


def test_bench_reports_a_missing_eye_locator_as_unavailable(tmp_path):
    """An eye model whose contract names a locator that is not next to it: the case is reported
    unavailable with the reason, before any worker starts."""
    import shutil
    from monitor.bench.pipeline import Bench, build_parser
    from monitor.estimator.pipeline import DEFAULT_EYE_MODEL
    lone = tmp_path / "eye_gaze_ir.onnx"
    shutil.copy(DEFAULT_EYE_MODEL, lone)

    def reason(eye):
        bench = Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu", "--eye-model", eye]),
                      tmp_path)
        return bench.unavailable(bench.cases()[0])

    assert reason(str(DEFAULT_EYE_MODEL)) is None
    assert "eye locator model" in reason(str(lone)) and "eye_locate_ir.onnx not found" in reason(str(lone))


def test_percentiles_are_linear_interpolation_rounded_to_microseconds():
    from monitor.latency import percentiles

    p = percentiles([float(v) for v in range(1, 101)])  # 1..100 ms
    assert p == {"n": 100, "p50": 50.5, "p90": 90.1, "p99": 99.01, "max": 100.0, "mean": 50.5}
    assert percentiles([1.23456789])["p99"] == 1.235 and percentiles([]) == {"n": 0}


def test_overhead_subtracts_every_model_including_the_eye_stage():
    f = stats.frame_figures(record(0, 0, 0, LAT, {"body": 5.0, "head": 2.0, "eye": 0.5, "eye_locate": 0.5,
                                                  "pre_post": 1.0}))
    assert f[stats.OVERHEAD] == pytest.approx(12.0 - 8.0)
    assert f[stats.PRE_POST] == pytest.approx(10.0 - 8.0)
    assert {k for k in f if k.startswith("infer.")} == {"infer.body", "infer.head", "infer.eye", "infer.eye_locate"}


def test_warmup_is_skipped_by_frame_id_not_by_line():
    """With frames lost in the warm-up (live policy), later lines are still measured frames."""
    recs = [record(i, i * 33.3, i * 33.3, LAT, {"body": 6.0}) for i in (0, 2, 5, 7, 9, 11)]
    s = stats.collect(recs, warmup=5)
    assert len(s[stats.E2E]) == 4  # frames 5, 7, 9, 11; by line it would have been 1
    assert [r["frame"] for r in stats.measured(recs, 5)] == [5, 7, 9, 11]
    assert stats.rates(recs, 5)["capture_fps"] == pytest.approx(3 / (6 * 0.0333), rel=1e-3)


def test_acceptance_counts_a_lost_frame_once_and_fails_a_run_that_did_not_finish():
    lossy = _entry("lossy")
    lossy["frames"], lossy["drops"] = {"captured": 20, "processed": 14, "lost": 6, "measured": 14}, {"capture": 6}
    stopped = {**_entry("stopped"), "status": "timeout"}
    unavailable = {**_entry("gone"), "status": "unavailable"}
    checks = acceptance({"configs": [_entry("good"), lossy, stopped, unavailable], "baselines": {}})
    drops = {c["config"]: (c["value"], c["pass"]) for c in checks if c["check"].startswith("no drops")}
    assert drops == {"good": (0, True), "lossy": (6, False), "stopped": (0, False)}
    assert all(not c["pass"] and "timeout" in c["check"] for c in checks if c["config"] == "stopped")
    assert len([c for c in checks if c["config"] == "stopped"]) == 3


def test_the_headline_transport_ratio_is_the_swept_link(tmp_path, monkeypatch):
    import monitor.bench.baselines as baselines
    from monitor.bench.pipeline import Bench, build_parser

    throughput = {"bus+shm": 300.0, "bus": 200.0, "imagezmq": 100.0}
    monkeypatch.setattr(baselines, "transport_case", lambda kind, frames, count, fps: {
        "transport": kind, "shm": kind == "bus+shm", "throughput_fps": throughput[kind], "one_way_ms": {}})
    for shm, link, ratio in (("on", "bus+shm", 3.0), ("off", "bus", 2.0)):
        args = build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu", "--shm", shm,
                                          "--baseline-repeats", "1"])
        bench = Bench(args, tmp_path)
        monkeypatch.setattr(bench, "frames_for", lambda w, h: tmp_path / "frames.dmsrec")
        out = bench.transport(848, 480, 30.0)
        assert (out["pipeline_link"], out["throughput_ratio_bus_over_imagezmq"]) == (link, ratio)


def test_bench_refuses_a_delay_no_figure_would_show(tmp_path):
    from monitor.bench.pipeline import Bench, build_parser

    with pytest.raises(ValueError, match="inject into capture, estimator or gaze"):
        Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu", "--inject-delay", "sink=3"]),
              tmp_path)


def _main(tmp_path, capsys, *extra):
    """`run_monitor.py bench` in this process: (exit status, stderr); no cases can run a pipeline."""
    from monitor.bench.pipeline import main
    code = main(["--out", str(tmp_path / "out"), "--providers", "cpu", "--no-baselines", "--no-plots",
                 "--cache", str(tmp_path / "cache"), *extra])
    return code, capsys.readouterr().err


def test_bench_checks_source_and_cache_before_creating_anything(tmp_path, capsys):
    """A missing or broken --source, and a --cache that is a file, are one line and exit 2 before
    OUT (or its runs/) exists; before, a RecordingError or two tracebacks after OUT/runs/ was made."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "run_monitor.py"), "bench", "--out", str(tmp_path / "out"),
                           "--source", str(tmp_path / "nope.dmsrec"), "--providers", "cpu"],
                          check=False, cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"error: --source {tmp_path / 'nope.dmsrec'}: no such recording file\n"
    (tmp_path / "empty.dmsrec").write_bytes(b"")
    (tmp_path / "cache.txt").write_text("not a folder")
    for extra, expect in ((["--source", str(tmp_path / "empty.dmsrec")], "--source "),
                          (["--source", str(tmp_path / "clip.mp4")], "bench replays a .dmsrec recording"),
                          (["--cache", str(tmp_path / "cache.txt")], "is a file, not a folder"),
                          (["--cache", str(tmp_path / "cache.txt" / "sub")], "cannot create the folder")):
        code, err = _main(tmp_path, capsys, *extra)
        assert code == 2 and err.startswith("error: ") and expect in err and err.count("\n") == 1, (extra, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.txt", "empty.dmsrec"]  # nothing made


def test_bench_refuses_a_model_path_it_cannot_use(tmp_path, capsys):
    """A model file the user names that is missing, unreadable or of another task is an error
    before anything runs (before, every configuration was "unavailable" and the exit status 0)."""
    from monitor.estimator.pipeline import DEFAULT_BODY_MODEL, DEFAULT_HEAD_MODEL
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    for extra, expect in ((["--body-model", "/nope.onnx"], "--body-model: model file /nope.onnx not found"),
                          (["--body-model", f"full={tmp_path / 'junk.onnx'}"], "is not a loadable ONNX model"),
                          (["--head-model", str(DEFAULT_BODY_MODEL)], "--head-model takes one of task head_pose"),
                          (["--eye-model", str(DEFAULT_HEAD_MODEL)], "--eye-model takes one of task eye_gaze"),
                          (["--eye-model", "/nope.onnx"], "--eye-model: model file /nope.onnx not found")):
        code, err = _main(tmp_path, capsys, *extra)
        assert code == 2 and err.startswith("error: ") and expect in err and err.count("\n") == 1, (extra, err)
    assert not (tmp_path / "out").exists()


def _machine():
    return {"cpu": {"model": "X", "logical_cores": 2, "usable_cores": 2}, "memory_gib": 1, "load_average": [1, 1, 1],
            "gpu": [], "versions": {"onnxruntime": "1"}}


def test_bench_md_lists_only_the_plots_written(tmp_path):
    from monitor.bench.report import write_outputs
    settings = {"frames": 20, "warmup": 0, "policy": "replay"}
    unavailable = {"name": "cpu-x", "status": "unavailable", "reason": "body model m.onnx not found",
                   "params": {"provider": "cpu", "body": "lite", "fps": 30.0, "resolution": "640x480"}}
    none = tmp_path / "none"
    none.mkdir()
    paths = write_outputs(none, {"machine": _machine(), "settings": settings, "configs": [unavailable]})
    assert "## Plots" not in (none / "bench.md").read_text() and not (none / "plots").exists()
    assert [p.name for p in paths] == ["bench.json", "bench.md"]
    some = tmp_path / "some"
    some.mkdir()
    paths = write_outputs(some, {"machine": _machine(), "settings": settings, "configs": [_entry("a"), unavailable]})
    section = (some / "bench.md").read_text().split("## Plots", 1)[1]
    listed = sorted(line.split("`")[1] for line in section.splitlines() if line.startswith("- `"))
    assert listed == sorted(p.relative_to(some).as_posix() for p in paths[2:]) == [
        "plots/cdf_a.png", "plots/stacked_stages.png", "plots/timeline_a.png"], section
    assert all((some / p).is_file() for p in listed)
    no_plots = tmp_path / "no_plots"
    no_plots.mkdir()
    write_outputs(no_plots, {"machine": _machine(), "settings": settings, "configs": [_entry("a")]}, plots=False)
    assert "## Plots" not in (no_plots / "bench.md").read_text()


def test_bench_times_one_intra_op_thread_by_default_as_run_monitor(tmp_path):
    """run_monitor.py runs each session with DMS_ORT_THREADS=1 unless told otherwise; the
    benchmark's default configuration must time that, not ONNX Runtime's one thread per core."""
    from monitor.bench.pipeline import Bench, build_parser
    cases = Bench(build_parser().parse_args(["--out", str(tmp_path), "--providers", "cpu"]), tmp_path).cases()
    assert [c.threads for c in cases] == [1] and "-t1-" in cases[0].name
    assert cases[0].params()["intra_op_threads"] == 1
    assert "default: 1, as run_monitor.py" in " ".join(build_parser().format_help().split())


def test_transport_wording_names_every_link_measured():
    result = {"machine": _machine(), "settings": {"frames": 20, "warmup": 0, "policy": "replay",
                                                  "baseline_repeats": 3},
              "configs": [], "baselines": {"transport": [{
                  "resolution": "848x480",
                  "cases": [{"transport": k, "fps_asked": 0.0, "frames": 60, "throughput_fps": 100.0,
                             "throughput_MBps": 1.0, "one_way_ms": {}} for k in ("bus+shm", "bus", "imagezmq")],
                  "throughput_median_fps": {}, "throughput_ratio_over_imagezmq": {}}]}}
    md = markdown(result)
    assert "two links" not in md
    assert "unpaced rows (bus+shm, bus and imagezmq-style taken in turn, 3 rounds) measure throughput" in md
