"""Torch side: network definitions (POSEidon head CNN, Watch-R-Patch body net), ONNX export, benchmark."""
