"""`python -m exporters.bench` (models/bench.md): its default frame has a driver, so the
estimate() rows time the head as the README quotes them, and its first line names the command."""
import shutil

from exporters import bench
from monitor.estimator.pipeline import DEFAULT_BODY_MODEL, DEFAULT_HEAD_MODEL, PoseEstimator
from monitor.estimator.session import OnnxModel


def test_the_default_frame_runs_the_head_with_the_shipped_models():
    frameset = bench.bench_frameset()
    assert frameset.images["depth"].shape == (480, 848)
    est = PoseEstimator(OnnxModel(DEFAULT_BODY_MODEL, ["cpu"]), OnnxModel(DEFAULT_HEAD_MODEL, ["cpu"]))
    assert est.estimate(frameset).head is not None


def test_the_table_names_its_command_and_times_the_head(tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    for path in (DEFAULT_BODY_MODEL, DEFAULT_HEAD_MODEL):
        shutil.copy(path, models)
    bench.main(["--models", str(models), "--runs", "2", "--full", str(tmp_path / "none.onnx")])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# exporters.bench on ")  # train.cards reads this header
    assert out[0].endswith(f"`python -m exporters.bench --models {models} --runs 2 --full {tmp_path / 'none.onnx'}`")
    rows = [line for line in out if line.startswith("| estimate(): body_lite.onnx")]
    assert len(rows) == 2 and all("(head ran" in r for r in rows), out
