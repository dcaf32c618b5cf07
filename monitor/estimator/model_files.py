"""Where the shipped models are and which files a model option names, without loading any model
(so the supervisor's checks before a run import neither ONNX Runtime nor OpenCV)."""
from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
DEFAULT_BODY_MODEL = MODELS_DIR / "body_lite.onnx"
DEFAULT_HEAD_MODEL = MODELS_DIR / "head_poseidon_depth.onnx"  # the better of the two (models/*.md)
DEFAULT_EYE_MODEL = MODELS_DIR / "eye_gaze_ir.onnx"
DEFAULT_COVER_MODEL = MODELS_DIR / "face_cover_depth.onnx"


def resolve_cover_model(option: str) -> str:
    """``--cover-model``: "" (not given) -> the shipped model, "none" -> "" (no face-cover model), else the path."""
    option = option.strip()
    if option.lower() == "none":
        return ""
    return option or str(DEFAULT_COVER_MODEL)


def resolve_eye_model(option: str) -> str:
    """``--eye-model`` (run_monitor.py and its bench): "" (not given) -> the shipped model, "none" -> ""
    (no eye stage, RunConfig's convention), else the path."""
    option = option.strip()
    if option.lower() == "none":
        return ""
    return option or str(DEFAULT_EYE_MODEL)


def eye_locator_path(eye_path: str | Path, name: str) -> Path:
    """The locator an eye model's contract names (``crop.locator``): a file next to the eye model."""
    return Path(eye_path).parent / Path(name).name


def missing_locator_message(eye_path: str | Path, locator_path: Path) -> str:
    return (f"--eye-model {eye_path} cuts its crops where its eye locator finds the eyes, and that locator "
            f"{locator_path} is missing: put it next to the eye model (the shipped pair: models/eye_gaze_ir.onnx, "
            "models/eye_locate_ir.onnx), or run with --eye-model none")


def eye_locator_of(eye_path: str | Path) -> Path | None:
    """The locator file an eye model's contract names, read from its metadata without loading the
    model; None when it names none or the file cannot be read as a model with a contract (loading
    it then says what is wrong)."""
    from monitor.estimator.contract import ModelContract
    from monitor.estimator.onnx_metadata import read_metadata
    try:
        name = ModelContract.from_metadata(read_metadata(eye_path), str(eye_path)).raw.get("crop", {}).get("locator")
    except Exception:  # noqa: BLE001 - any unreadable file: the load reports it
        return None
    return eye_locator_path(eye_path, name) if name else None
