"""ONNX Runtime estimator: model contracts, the session wrapper and the pose pipeline."""
