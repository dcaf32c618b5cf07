"""Fixtures shared by the test files that run the real pipeline."""
import pytest

from tests.onnx_factory import body_model, head_model


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """--body-model/--head-model arguments for small untrained models with valid contracts."""
    d = tmp_path_factory.mktemp("models")
    return ["--body-model", str(body_model(d / "body.onnx")), "--head-model", str(head_model(d / "head.onnx"))]
