"""One ONNX Runtime session wrapper for every model: providers, warm-up, contract, IO binding."""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from monitor.estimator.contract import ModelContract, ModelContractError

log = logging.getLogger(__name__)

# Short names accepted on the command line -> ONNX Runtime provider names.
PROVIDER_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEFAULT_PROVIDERS = ("tensorrt", "cuda", "cpu")
_FALLBACKS_LOGGED: set[tuple[tuple[str, ...], tuple[str, ...]]] = set()
# Deployment knobs read from the environment (workers inherit the supervisor's environment, so
# they reach every estimator process without new options on each command line):
#   DMS_ORT_THREADS=N        intra-op threads per session (run_monitor.py sets 1 unless told
#                            otherwise: its processes share the CPU; 0 = ONNX Runtime's, one per core)
#   DMS_TRT_ENGINE_CACHE=DIR TensorRT engine cache folder (the first build takes minutes; later
#                            runs load the engines from DIR)
ENV_THREADS = "DMS_ORT_THREADS"
ENV_TRT_CACHE = "DMS_TRT_ENGINE_CACHE"


class ModelLoadError(RuntimeError):
    """A model file is missing, corrupt or unusable; the message says what to do."""


@dataclass(frozen=True)
class SessionInfo:
    path: str
    requested_providers: tuple[str, ...]
    active_providers: tuple[str, ...]
    unavailable_providers: tuple[str, ...]
    warmup_ms: float
    io_binding: bool


def resolve_providers(names: Sequence[str]) -> list[str]:
    """Map short names (tensorrt, cuda, cpu) or full provider names to provider names."""
    resolved = []
    for name in names:
        full = PROVIDER_ALIASES.get(name.lower().strip(), name.strip())
        if not full.endswith("ExecutionProvider"):
            raise ValueError(f"unknown execution provider {name!r}; use {', '.join(PROVIDER_ALIASES)}")
        resolved.append(full)
    return resolved


@functools.lru_cache(maxsize=None)
def provider_usable(provider: str) -> bool:
    """Whether a provider can really run here. ``get_available_providers`` only says it was
    compiled in: onnxruntime-gpu lists CUDA and TensorRT on machines without a GPU, and a session
    asked for them prints a page of errors before falling back. Probe quietly instead: a GPU must
    answer the CUDA driver, and the provider's library (with cuDNN/cuBLAS/TensorRT) must load."""
    if provider == "CPUExecutionProvider":
        return True
    import onnxruntime as ort

    if provider not in ort.get_available_providers():
        return False
    try:
        driver = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
            return False
        if hasattr(ort, "preload_dlls"):
            ort.preload_dlls()  # CUDA/cuDNN from the pip extras onnxruntime-gpu[cuda,cudnn]
        name = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}[provider]
        ctypes.CDLL(str(Path(ort.__file__).parent / "capi" / f"libonnxruntime_providers_{name}.so"))
    except (OSError, KeyError, AttributeError):
        return False
    return True


def provider_entries(providers: Sequence[str]) -> list:
    """Provider names with their options: TensorRT gets its engine cache when one is set."""
    cache = os.environ.get(ENV_TRT_CACHE, "")
    entries: list = []
    for p in providers:
        if p == "TensorrtExecutionProvider" and cache:
            Path(cache).mkdir(parents=True, exist_ok=True)
            entries.append((p, {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache,
                                "trt_timing_cache_enable": True, "trt_timing_cache_path": cache}))
        else:
            entries.append(p)
    return entries


def _env_int(name: str) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise ModelLoadError(f"{name}={text!r}: give a whole number of threads (or unset it)")
    return int(text)


def _short_ort_error(exc: Exception) -> str:
    """ORT errors end with the human sentence after a C++ signature; keep that part."""
    text = " ".join(str(exc).split())
    match = re.search(r"\)\s+([A-Z][^()]*)$", text)
    return (match.group(1) if match else text)[:300]


class OnnxModel:
    """A loaded model: ``run(x)`` returns the outputs as a dict name -> array.

    The contract (task, input size, normalisation, outputs) is read from the file's metadata; a
    missing file, a corrupt file or a file without a contract raises `ModelLoadError`.
    """

    def __init__(self, path: str | Path, providers: Sequence[str] = DEFAULT_PROVIDERS,
                 io_binding: bool = False, warmup_runs: int = 3, intra_op_threads: int = 0) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"model file {self.path} not found; run `python -m train.all` to "
                                 "train and export the default models, or pass --body-model/--head-model")
        requested = resolve_providers(providers)
        usable = [p for p in requested if provider_usable(p)] or ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.log_severity_level = 3
        intra_op_threads = intra_op_threads or _env_int(ENV_THREADS)
        if intra_op_threads:
            options.intra_op_num_threads = intra_op_threads
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                                providers=provider_entries(usable))
        except Exception as exc:  # ORT raises its own exception types for corrupt files
            raise ModelLoadError(f"{self.path} is not a loadable ONNX model ({_short_ort_error(exc)}); "
                                 "re-export it or restore the file") from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        try:
            self.contract = ModelContract.from_metadata(metadata, str(self.path))
        except ModelContractError as exc:
            raise ModelLoadError(str(exc)) from None
        self.output_names = [o.name for o in self.session.get_outputs()]
        if self.contract.input_name not in [i.name for i in self.session.get_inputs()]:
            raise ModelLoadError(f"{self.path}: contract names input {self.contract.input_name!r}, "
                                 "the graph has no such input")
        self._binding = self.session.io_binding() if io_binding else None
        warmup_ms = self._warm_up(warmup_runs)
        active = tuple(self.session.get_providers())
        self.info = SessionInfo(str(self.path), tuple(requested), active,
                                tuple(p for p in requested if p not in active), warmup_ms, io_binding)
        fallback = (self.info.unavailable_providers, active)
        if self.info.unavailable_providers and fallback not in _FALLBACKS_LOGGED:
            _FALLBACKS_LOGGED.add(fallback)  # once per process, not once per model
            log.info("providers %s not available, running on %s (summary.json lists each model's providers)",
                     ", ".join(self.info.unavailable_providers), ", ".join(active))

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        c = self.contract
        return (batch, c.channels, c.height, c.width)

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._binding is None:
            outputs = self.session.run(self.output_names, {self.contract.input_name: x})
        else:
            self._binding.bind_cpu_input(self.contract.input_name, x)
            for name in self.output_names:
                self._binding.bind_output(name)
            self.session.run_with_iobinding(self._binding)
            outputs = self._binding.copy_outputs_to_cpu()
        return dict(zip(self.output_names, outputs))

    def _warm_up(self, runs: int) -> float:
        start = time.perf_counter()
        dummy = np.zeros(self.input_shape(), dtype=np.float32)
        for _ in range(runs):
            self.run(dummy)
        return (time.perf_counter() - start) * 1000.0
