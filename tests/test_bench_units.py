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
