"""Export generators to ONNX for ONNX Runtime: fp32 graphs (weights optionally stored as fp16) and
int8 static quantisation calibrated on real sketches.

    sketch2face export --model sketch2face-v1 --format onnx            # writes model.onnx into the release
    sketch2face export --model sketch2face-v1 --format onnx-int8 --calibration ../shared/data/cufs/train/sketches

Needs torch (to trace the model) and the ``onnx`` extra; running the exported files needs only
onnxruntime (see ``sketch2face.backends``).
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from .data.transforms import InputImageError
from .io import atomic_write_bytes

#: ONNX operator set; 17 is the oldest the issue allows and every recent onnxruntime runs it.
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "sketch", "face"


class ExportError(RuntimeError):
    """The exported graph does not reproduce the PyTorch model (parity check failed)."""


def _torch_to_onnx_bytes(model, resolution: int) -> bytes:
    """Trace ``model`` (eval, fp32) at (1, C, S, S) with a dynamic batch axis and return the ONNX bytes."""
    import torch

    model = model.float().eval()
    example = torch.zeros(1, model.config.in_channels, resolution, resolution)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # The TorchScript exporter is stable for these plain conv nets; the dynamo exporter would
        # also need onnxscript. Its deprecation notice is not actionable for users.
        warnings.simplefilter("ignore")
        path = Path(tmp) / "model.onnx"
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                          do_constant_folding=True)
        return path.read_bytes()


def store_weights_as_fp16(onnx_bytes: bytes, min_elements: int = 1024) -> bytes:
    """Keep the graph in fp32 but store large float weights as fp16, each followed by a Cast to fp32.

    Halves the file (the bundled releases must stay under 40 MB per file) at the precision of the
    fp16 safetensors the weights come from; ONNX Runtime folds the Casts when the session starts,
    so inference runs at full fp32 speed.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    casts = []
    kept = []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT or int(np.prod(initializer.dims)) < min_elements:
            kept.append(initializer)
            continue
        values = numpy_helper.to_array(initializer).astype(np.float16)
        stored = numpy_helper.from_array(values, initializer.name + "__fp16")
        kept.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [initializer.name], to=TensorProto.FLOAT,
                                      name=initializer.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def export_onnx(model, path: str | Path, resolution: int = 256, fp16_weights: bool = True,
                check_parity: bool = True, tolerance: float = 1e-3) -> Path:
    """Write ``model`` as ONNX (opset 17, dynamic batch) to ``path`` atomically.

    With ``check_parity`` the file is run in ONNX Runtime on two random sketches (batch 2, so the
    dynamic axis is exercised) and compared with PyTorch in fp32 on the same weights: a maximum
    absolute difference above ``tolerance`` raises ExportError and nothing is written.
    """
    import copy

    import torch

    model = copy.deepcopy(model).float().eval()
    if fp16_weights:
        # round the PyTorch weights the same way, so parity compares the graph, not the rounding
        with torch.no_grad():
            for parameter in model.state_dict().values():
                if parameter.is_floating_point():
                    parameter.copy_(parameter.half().float())
    data = _torch_to_onnx_bytes(model, resolution)
    if fp16_weights:
        data = store_weights_as_fp16(data)
    if check_parity:
        difference = parity(model, data, resolution)
        if difference > tolerance:
            raise ExportError(f"ONNX output differs from PyTorch by {difference:.2e} (> {tolerance:g})")
    atomic_write_bytes(path, data)
    return Path(path)


def parity(model, onnx_model: bytes | str | Path, resolution: int = 256, batch: int = 2, seed: int = 0) -> float:
    """Max |ONNX Runtime - PyTorch fp32| over a random batch in [-1, 1]."""
    import torch

    from .backends import make_session

    rng = np.random.default_rng(seed)
    sketch = rng.uniform(-1, 1, (batch, model.config.in_channels, resolution, resolution)).astype(np.float32)
    with torch.no_grad():
        expected = model.float().eval()(torch.from_numpy(sketch)).numpy()
    session = make_session(onnx_model)
    got = session.run(None, {session.get_inputs()[0].name: sketch})[0]
    return float(np.abs(got - expected).max())


class _SketchCalibration:
    """onnxruntime CalibrationDataReader over preprocessed sketches, one per call."""

    def __init__(self, batches: list[np.ndarray], input_name: str):
        self._items = iter([{input_name: b} for b in batches])

    def get_next(self):
        return next(self._items, None)


def calibration_batches(sources: Iterable[str | Path], resolution: int, limit: int = 64) -> list[np.ndarray]:
    """Real sketches, preprocessed exactly as the pipeline does, as (1, 1, S, S) arrays."""
    from .data.datasets import list_images
    from .pipeline import preprocess_sketch

    files: list[Path] = []
    sources = list(sources)
    for source in sources:
        source = Path(source)
        files += sorted(list_images(source).values()) if source.is_dir() else [source]
    if not files:
        raise InputImageError(f"no calibration sketches found in {', '.join(map(str, sources))}")
    # spread the picks over the whole folder (CUFS train is sorted by subset)
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)]
    batches = []
    for path in picks:
        try:
            batches.append(preprocess_sketch(path, resolution).values[None])
        except InputImageError:
            continue
    if not batches:
        raise InputImageError("none of the calibration sketches could be read")
    return batches


def quantize_int8(model, path: str | Path, calibration: list[np.ndarray], resolution: int = 256) -> Path:
    """Static int8 quantisation (QDQ, per-channel 7-bit weights, MinMax activations calibrated on real
    sketches) of ``model``; written atomically to ``path``.

    ``reduce_range``: on x86 CPUs without AVX512-VNNI (most laptops: AVX2 only), ONNX Runtime multiplies
    uint8 activations by int8 weights with an instruction whose 16-bit sums saturate; with full 8-bit
    weights the faces came out as noise there (mean error 0.59 on [-1, 1] for sketch2face-v1, against
    0.007 with 7-bit weights; measured on an AVX2 EPYC)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    data = _torch_to_onnx_bytes(model, resolution)
    with tempfile.TemporaryDirectory() as tmp:
        raw, prepared, quantized = (Path(tmp) / n for n in ("raw.onnx", "prepared.onnx", "int8.onnx"))
        raw.write_bytes(data)
        quant_pre_process(str(raw), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantized), _SketchCalibration(calibration, INPUT_NAME),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax, reduce_range=True)
        atomic_write_bytes(path, quantized.read_bytes())
    return Path(path)
