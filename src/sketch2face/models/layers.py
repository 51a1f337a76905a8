"""Building blocks shared by more than one architecture."""
from __future__ import annotations

from torch import nn


def make_norm(kind: str, channels: int) -> nn.Module:
    """Return a 2-D normalisation layer by name: "batch", "instance" or "none"."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        # affine so that instance-norm models have the same parameter layout as batch-norm ones
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose from 'batch', 'instance', 'none'")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix initialisation: N(0, 0.02) for convolutions, N(1, 0.02) for norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    """conv3x3 -> norm -> ReLU -> conv3x3 -> norm, plus the input (He et al. 2016; Johnson et al. 2016)."""

    def __init__(self, channels: int, norm: str = "batch", reflect_pad: bool = True):
        super().__init__()
        padding_mode = "reflect" if reflect_pad else "zeros"
        bias = norm != "batch"
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=bias, padding_mode=padding_mode),
            make_norm(norm, channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=bias, padding_mode=padding_mode),
            make_norm(norm, channels),
        )

    def forward(self, x):
        return x + self.body(x)
