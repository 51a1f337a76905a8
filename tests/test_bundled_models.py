"""Every bundled model loads and runs, and its shipped ONNX files still compute what its safetensors
weights compute (fp32 graph; int8 within its quantisation error); the PyTorch bf16 path too."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import draw_pair
from sketch2face.backends import OnnxBackend, TorchBackend
from sketch2face.data.transforms import resize, to_model_range
from sketch2face.io import INT8_FILE, ONNX_FILE, Release, bundled_models, load_pretrained

MODELS = [name for name in bundled_models() if Release.open(name).routes is None]


def _input(model) -> np.ndarray:
    """A drawn sketch (or, for a photo -> sketch model, its photo) with the model's style planes."""
    sketch, photo = draw_pair(7, size=64)
    channels = model.config.in_channels
    image = to_model_range(resize(photo if channels >= 3 else sketch, (256, 256)))
    planes = image.transpose(2, 0, 1) if image.ndim == 3 else image[None]
    extra = -np.ones((channels - len(planes), 256, 256), np.float32)
    if len(extra):
        extra[0] = 1.0  # the first style
    return np.concatenate([planes, extra])[None].astype(np.float32)


@pytest.mark.parametrize("name", MODELS)
def test_bundled_model_runs_and_its_onnx_files_match_its_weights(name):
    model = load_pretrained(name)
    batch = _input(model)
    reference = TorchBackend(model, "fp32")(batch)
    assert reference.shape[-2:] == (256, 256) and np.isfinite(reference).all()
    assert np.abs(reference).max() <= 1.0 and reference.std() > 0.01  # tanh output, not constant
    bf16 = TorchBackend(model, "bf16")(batch)
    assert np.abs(bf16 - reference).mean() < 0.01  # measured 0.0006-0.0015
    folder = model.release_dir
    if (folder / ONNX_FILE).is_file():
        assert np.abs(OnnxBackend(folder / ONNX_FILE)(batch) - reference).max() < 1e-3
    if (folder / INT8_FILE).is_file():
        assert np.abs(OnnxBackend(folder / INT8_FILE, "int8")(batch) - reference).mean() < 0.05  # measured 0.010-0.021


def test_routed_models_route_to_bundled_models_and_the_default_composes_line_drawings():
    from sketch2face.io import DEFAULT_MODEL
    from sketch2face.pipeline import SketchToFacePipeline

    for name in ("sketch2face-v2", "sketch2face-v3", "sketch2face-v4", "sketch2face-v5", "sketch2face-v6",
                 "sketch2face-v7", "sketch2face-v8"):
        routes = Release.open(name).routes
        assert set(routes) == {"portrait", "lines"} and set(routes.values()) <= set(MODELS)
    assert Release.open(DEFAULT_MODEL).compose_lines and not Release.open("sketch2face-v2").compose_lines
    assert not Release.open("sketch2face-v1").compose_lines  # only routers compose by default
    assert SketchToFacePipeline(backend="onnx").compose
    assert not SketchToFacePipeline(backend="onnx", compose=False).compose
    assert not SketchToFacePipeline("sketch2face-v2", backend="onnx").compose


def test_the_wheel_installs_the_default_and_what_it_routes_to():
    """pyproject.toml leaves earlier defaults out of the wheel by file patterns; none may match a file
    the default, v1 or the live preview's model needs. The weights' folders must not be namespace
    packages (as they were), which put every file in them into the wheel whatever the patterns say."""
    import fnmatch
    import tomllib

    from conftest import ROOT
    from sketch2face.io import DEFAULT_MODEL

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["namespaces"] is False
    excluded = setuptools["exclude-package-data"]["sketch2face"]
    needed = {DEFAULT_MODEL, *Release.open(DEFAULT_MODEL).routes.values(), "sketch2face-v1", "sketch2face-v1-small"}
    for name in needed:
        for file in ("config.json", "model.safetensors", ONNX_FILE, INT8_FILE):
            path = f"weights/{name}/{file}"
            assert not any(fnmatch.fnmatch(path, pattern) for pattern in excluded), path
    assert any(fnmatch.fnmatch("weights/sketch2face-portrait-2/model.onnx", p) for p in excluded)  # the check sees them
