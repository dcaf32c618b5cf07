"""`run_monitor.py bench` end to end: real supervisor, worker processes, sockets, ONNX Runtime.

One small benchmark run (module fixture) with known artificial delays in three stages checks
that the reported per-stage latencies are right (within 1 ms), that the baselines produce
figures, and that bench.json, bench.md and the plots are written.
"""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fixtures import write_recording
from onnx_factory import body_model, head_model

ROOT = Path(__file__).resolve().parents[1]
DELAYS = {"capture": 2.0, "estimator": 4.0, "gaze": 3.0}
FRAMES, WARMUP = 40, 4


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    body, head = body_model(d / "body.onnx"), head_model(d / "head.onnx")
    rec = write_recording(d / "clip.dmsrec", 12, width=320, height=240)
    out = d / "out"
    args = [sys.executable, str(ROOT / "run_monitor.py"), "bench", "--out", str(out), "--source", str(rec),
            "--resolution", "320x240", "--fps", "25", "--frames", str(FRAMES), "--warmup", str(WARMUP),
            "--providers", "cpu,cuda", "--body-model", str(body), "--head-model", str(head),
            "--baseline-frames", "60", "--baseline-repeats", "2", "--cache", str(d / "cache"),
            *(a for stage, ms in DELAYS.items() for a in ("--inject-delay", f"{stage}={ms:g}"))]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, json.loads((out / "bench.json").read_text()), proc.stdout


def _config(result, provider="cpu"):
    return next(c for c in result["configs"] if c["params"]["provider"] == provider)


def test_known_delays_are_reported_per_stage_within_1ms(bench):
    _, result, _ = bench
    c = _config(result)
    assert c["status"] == "ok" and c["frames"]["measured"] == FRAMES
    lat = c["latency_ms"]
    # The estimator's delay sits outside model inference, so it lands in its pre/post share.
    # Other jobs on a busy machine can only add time (a preempted stage), never remove it, so the
    # check is on the frames that ran undisturbed: the lower decile (on the shared 2-core dev VM at
    # load 17, over a quarter of the frames were preempted), and the minimum.
    # Capture and gaze do almost nothing else (~0.1-0.4 ms), so their figure must match the delay
    # within 1 ms. The estimator's pre/post share also holds its real letterboxing and head crop
    # (about 1 ms at 320x240 here), so there the delay must show up in full, plus that work.
    for key, ms, slack in (("capture", DELAYS["capture"], 1.0), ("gaze", DELAYS["gaze"], 1.0),
                           ("estimator.pre_post", DELAYS["estimator"], 3.0)):
        assert lat[key]["n"] == FRAMES
        values = np.asarray(c["samples"][key])
        assert ms <= np.percentile(values, 10) <= ms + slack, (key, lat[key])
        assert values.min() >= ms - 0.01, key  # a busy-wait is never shorter
    # ... and no delay leaks into the hops between them
    for key in ("transport.capture>estimator", "transport.estimator>gaze", "transport.gaze>sink"):
        assert np.percentile(c["samples"][key], 10) < min(DELAYS.values()), (key, lat[key])
    # stages partition end to end, per frame and therefore in the means
    total = sum(c["breakdown_mean_ms"].values())
    assert total == pytest.approx(lat["end_to_end"]["mean"], abs=0.01)
    # overhead is end to end minus every model's inference (eye models included), frame by frame
    samples = {k: np.asarray(v) for k, v in c["samples"].items()}
    inference = sum(v for k, v in samples.items() if k.startswith("infer."))
    assert {"infer.body", "infer.head", "infer.eye", "infer.eye_locate"} <= set(samples)
    np.testing.assert_allclose(samples["overhead"], samples["end_to_end"] - inference, atol=1e-3)
    assert lat["overhead"]["p50"] >= sum(DELAYS.values())


def test_run_counts_frames_drops_processes_and_providers(bench):
    _, result, _ = bench
    c = _config(result)
    assert c["frames"]["lost"] == 0 and sum(c["drops"].values()) == 0
    assert c["providers_used"] == ["CPUExecutionProvider"]
    workers = {"capture", "estimator", "gaze", "sink"}
    assert {r for r in c["processes"] if not r.startswith("spare ")} == {"supervisor", *workers}
    assert {r for r in c["processes"] if r.startswith("spare ")} <= {f"spare {w}" for w in workers}
    for role in ("capture", "estimator", "gaze"):
        p = c["processes"][role]
        assert p["cpu_percent"] > 0 and p["rss_mib_max"] > 10, (role, p)
    assert 20 < c["rates"]["capture_fps"] < 30  # paced at 25 fps
    # the shipped eye model runs by default, as in run_monitor.py, and is timed as a model of its own
    assert {"infer.body", "infer.head", "infer.eye"} <= set(c["latency_ms"]), \
        sorted(c["latency_ms"])


def test_unusable_provider_is_reported_not_skipped(bench):
    _, result, _ = bench
    from monitor.estimator.session import provider_usable
    cuda = _config(result, "cuda")
    if provider_usable("CUDAExecutionProvider"):
        assert cuda["status"] == "ok"
    else:
        assert cuda["status"] == "unavailable" and "CUDAExecutionProvider" in cuda["reason"]


def test_baselines_produce_figures_on_the_same_frames(bench):
    _, result, _ = bench
    transport = result["baselines"]["transport"]
    assert [t["resolution"] for t in transport] == ["320x240"]
    kinds = ("bus+shm", "bus", "imagezmq")
    assert len(transport[0]["cases"]) == 3 * 2 + 3  # two alternated unpaced repeats per link, one paced each
    cases = {(c["transport"], bool(c["fps_asked"])): c for c in transport[0]["cases"]}
    assert set(cases) == {(k, paced) for k in kinds for paced in (False, True)}
    assert all(len(transport[0]["repeats"][k]) == 2 for k in kinds)
    for c in cases.values():
        assert c["frameset_bytes"] == 320 * 240 * 3  # IR u8 + depth u16
        assert c["one_way_ms"]["n"] > 0 and c["one_way_ms"]["p50"] > 0
    from monitor import shm
    assert cases[("bus+shm", False)]["shm"] == shm.available() and not cases[("bus", False)]["shm"]
    assert cases[("bus", False)]["frames"] == 60 and cases[("bus", False)]["throughput_fps"] > 0
    assert set(transport[0]["throughput_ratio_over_imagezmq"]) == {"bus+shm", "bus"}
    assert transport[0]["throughput_ratio_bus_over_imagezmq"] > 0
    assert not list(shm.SHM_DIR.glob("dms-run-*-baseline*"))  # the baseline's rings are removed
    loops = result["baselines"]["single_loop"]
    assert [pair["realtime"] for pair in loops] == [True, False]
    for pair in loops:
        single = pair["single_loop"]
        assert single["status"] == "ok" and single["frames"]["processed"] == FRAMES + WARMUP
        assert single["latency_ms"]["end_to_end"]["n"] == FRAMES
        assert "single_loop" in single["processes"]
    assert loops[1]["pipeline_run"]["status"] == "ok" and loops[1]["pipeline_run"]["params"]["realtime"] is False


def test_outputs_are_written(bench):
    out, result, stdout = bench
    md = (out / "bench.md").read_text()
    for text in ("| capture |", "estimator.pre_post", "| cuda-fp32-", "imagezmq-style", "single loop",
                 result["machine"]["cpu"]["model"]):
        assert text in md, text
    assert result["machine"]["versions"]["onnxruntime"]
    pngs = sorted((out / "plots").glob("*.png"))
    names = {p.name.split("_")[0] for p in pngs}
    assert {"stacked", "cdf", "timeline"} <= names
    for p in pngs:
        img = cv2.imread(str(p))
        assert img is not None and img.shape[2] == 3 and img.std() > 5, p  # drawn, not blank
    assert "outputs:" in stdout
    assert not (out / "inputs").exists()  # paced copies of the frames are removed


def test_bad_options_stop_with_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "run_monitor.py"), "bench", "--out", str(tmp_path / "o"),
                           "--resolution", "640by480"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--resolution '640by480'" in proc.stderr
