"""The supervisor's model checks read ONNX metadata without ONNX Runtime (monitor/estimator/onnx_metadata.py)."""
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from monitor.estimator.model_files import DEFAULT_EYE_MODEL, eye_locator_of
from monitor.estimator.onnx_metadata import read_metadata

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "models").glob("*.onnx"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_metadata_read_from_the_bytes_is_what_onnx_runtime_reads(path):
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert read_metadata(path) == expected and expected  # every shipped model carries its contract


def test_a_model_built_by_the_tests_reads_the_same(tmp_path):
    from tests.onnx_factory import head_model
    path = head_model(tmp_path / "head.onnx")
    assert read_metadata(path) == ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map


@pytest.mark.parametrize("content", [b"", b"\x00\x01", b"hello, not a model", SHIPPED[0].read_bytes()[:5000]],
                         ids=["empty", "field zero", "text", "cut short"])
def test_a_file_that_is_not_a_model_is_a_value_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.onnx"):
        read_metadata(path)
    assert eye_locator_of(path) is None  # the load that follows says what is wrong


def test_the_checks_before_a_run_load_neither_onnx_runtime_nor_opencv():
    """They run in the supervisor, which does no inference and draws nothing: importing ONNX
    Runtime and OpenCV there held ~55 MiB for the whole run (99.7 -> 45.6 MiB measured)."""
    code = ("import sys; from monitor.cli import build_parser; from monitor.preflight import check_inputs; "
            "from monitor.estimator.model_files import resolve_cover_model, resolve_eye_model; "
            "a = build_parser().parse_args([]); a.eye_model = resolve_eye_model(a.eye_model); "
            "a.cover_model = resolve_cover_model(a.cover_model); check_inputs(a, 'synthetic'); "
            "print('onnxruntime' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
    assert eye_locator_of(DEFAULT_EYE_MODEL) == DEFAULT_EYE_MODEL.parent / "eye_locate_ir.onnx"


def test_cover_model_option_resolves_and_a_missing_file_is_one_clear_line(tmp_path):
    """--cover-model: not given -> the shipped file, 'none' -> no model; a path that is not there stops
    the run before anything starts, with the way out in the message."""
    from monitor.cli import build_parser
    from monitor.estimator.model_files import DEFAULT_COVER_MODEL, resolve_cover_model
    from monitor.preflight import check_inputs
    assert resolve_cover_model("") == str(DEFAULT_COVER_MODEL) and DEFAULT_COVER_MODEL.is_file()
    assert resolve_cover_model(" None ") == "" and resolve_cover_model("x.onnx") == "x.onnx"
    a = build_parser().parse_args(["--cover-model", str(tmp_path / "gone.onnx"), "--eye-model", "none"])
    a.eye_model = ""
    with pytest.raises(ValueError, match=r"--cover-model .*gone.onnx: model file not found \(--cover-model none"):
        check_inputs(a, "synthetic")


def test_the_workers_default_scoring_is_the_stages():
    """RunConfig does not import the gaze package (workers stay light), so its default is written out:
    it must name the same scoring as monitor.gaze.stage.DEFAULT_GAZE_SCORING and the CLI."""
    from monitor.cli import build_parser
    from monitor.gaze.stage import DEFAULT_GAZE_SCORING
    from monitor.workers.base import RunConfig
    assert RunConfig(endpoints={}).gaze_scoring == DEFAULT_GAZE_SCORING == build_parser().parse_args([]).gaze_scoring
    assert RunConfig(endpoints={}).cover_model == ""  # made directly: no face-cover model unless named
