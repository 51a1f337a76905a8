"""Inference backends behind SketchToFacePipeline: ONNX Runtime (no torch needed) and PyTorch.

A release folder holds ``config.json`` + ``model.safetensors`` (PyTorch) and, for the bundled models,
``model.onnx`` (fp32 graph, fp16-stored weights) and ``model.int8.onnx`` (static int8). ``auto`` picks
ONNX Runtime when it is installed and the folder has an ONNX file, PyTorch otherwise.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from .io import INT8_FILE, ONNX_FILE, ModelNotFoundError

BACKENDS = ("auto", "onnx", "torch")
#: torch: "fp32" or "bf16" (autocast; fast on CPUs with AMX). onnx: "fp32" or "int8".
PRECISIONS = {"torch": ("fp32", "bf16"), "onnx": ("fp32", "int8")}


class BackendUnavailableError(RuntimeError):
    """The requested backend is not installed or the model has no file for it."""


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def torch_available() -> bool:
    """PyTorch and safetensors (the format of release weights) are both installed."""
    return all(importlib.util.find_spec(module) is not None for module in ("torch", "safetensors"))


def make_session(model: bytes | str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session with full graph optimisation, one intra-op thread per core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT warns about every unused initializer otherwise
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class OnnxBackend:
    """Runs ``model.onnx`` / ``model.int8.onnx`` of a release folder (or any .onnx file)."""

    name = "onnx"

    def __init__(self, path: str | Path, precision: str = "fp32", threads: int | None = None):
        self.path = Path(path)
        self.precision = precision
        try:
            self.session = make_session(self.path, threads)
        except Exception as error:  # onnxruntime raises its own exception types for bad files
            raise ModelNotFoundError(f"{self.path} is not a usable ONNX model: {error}") from None
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


class TorchBackend:
    """Runs a generator module in PyTorch, fp32 or bf16 autocast."""

    name = "torch"

    def __init__(self, generator, precision: str = "fp32"):
        import torch

        self.torch = torch
        self.generator = generator.eval()
        self.precision = precision

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        tensor = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            output = self.generator(tensor)
        return output.float().numpy()


def onnx_file(model_dir: Path, precision: str) -> Path:
    return model_dir / (INT8_FILE if precision == "int8" else ONNX_FILE)


def choose_backend(model_dir: Path, backend: str = "auto", precision: str | None = None) -> tuple[str, str]:
    """Resolve ``auto`` and the default precision; raise BackendUnavailableError with the fix when
    the choice cannot run here."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        wants_onnx = precision in (None, "fp32", "int8") and precision != "bf16"
        if wants_onnx and onnxruntime_available() and onnx_file(model_dir, precision or "fp32").is_file():
            backend = "onnx"
        elif torch_available():
            backend = "torch"
        else:
            raise BackendUnavailableError(
                f"{model_dir.name}: no ONNX file for precision {precision or 'fp32'}, and the torch backend needs "
                "PyTorch and safetensors: pip install 'sketch2face[torch]' (or export with `sketch2face export`)")
    precision = precision or "fp32"
    if precision not in PRECISIONS[backend]:
        raise ValueError(f"precision {precision!r} is not available with the {backend} backend; "
                         f"choose {' or '.join(PRECISIONS[backend])}")
    if backend == "onnx":
        if not onnxruntime_available():
            raise BackendUnavailableError("the onnx backend needs onnxruntime: pip install 'sketch2face[onnx]'")
        if not onnx_file(model_dir, precision).is_file():
            raise BackendUnavailableError(
                f"{model_dir} has no {onnx_file(model_dir, precision).name}; create it with "
                f"`sketch2face export --model {model_dir} --format {'onnx-int8' if precision == 'int8' else 'onnx'}`")
    elif not torch_available():
        raise BackendUnavailableError("the torch backend needs PyTorch and safetensors: pip install 'sketch2face[torch]'")
    return backend, precision
