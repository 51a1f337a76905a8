"""PatchGAN discriminators (pix2pix; multi-scale as in pix2pixHD, Wang et al. 2018): classify
overlapping patches of (sketch, photo) pairs as real or generated."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import init_weights, make_norm
from .registry import register_model, register_preset


def _patchgan_blocks(in_channels: int, base: int, n_layers: int, norm: str) -> nn.ModuleList:
    bias = norm != "batch"
    blocks = nn.ModuleList([nn.Sequential(nn.Conv2d(in_channels, base, 4, 2, 1), nn.LeakyReLU(0.2))])
    width = base
    for n in range(1, n_layers + 1):
        new_width = base * min(2**n, 8)
        stride = 2 if n < n_layers else 1
        blocks.append(nn.Sequential(nn.Conv2d(width, new_width, 4, stride, 1, bias=bias),
                                    make_norm(norm, new_width), nn.LeakyReLU(0.2)))
        width = new_width
    blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
    return blocks


@register_model("patchgan")
class PatchGANDiscriminator(nn.Module):
    """``n_layers=3`` gives the 70x70 receptive field of pix2pix. Returns one logit per patch."""

    kind = "discriminator"

    @dataclass
    class Config:
        in_channels: int = 4
        """Sketch channels + photo channels: the discriminator is conditioned on the sketch."""
        base_channels: int = 64
        n_layers: int = 3
        norm: str = "batch"

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        self.blocks = _patchgan_blocks(c.in_channels, c.base_channels, c.n_layers, c.norm)
        init_weights(self)

    def features(self, pair: torch.Tensor) -> list[list[torch.Tensor]]:
        """One scale: the output of every block, the last being the patch logits."""
        outputs, x = [], pair
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return [outputs]

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, 1, H', W') patch logits."""
        return self.features(pair)[0][-1]


@register_model("patchgan-ms")
class MultiScalePatchGAN(nn.Module):
    """PatchGANs on the pair at full, half, quarter... resolution; coarse scales judge global structure."""

    kind = "discriminator"

    @dataclass
    class Config:
        in_channels: int = 4
        base_channels: int = 64
        n_layers: int = 3
        norm: str = "batch"
        num_scales: int = 2

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        self.scales = nn.ModuleList([_patchgan_blocks(c.in_channels, c.base_channels, c.n_layers, c.norm)
                                     for _ in range(c.num_scales)])
        init_weights(self)

    def features(self, pair: torch.Tensor) -> list[list[torch.Tensor]]:
        result, x = [], pair
        for i, blocks in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs, y = [], x
            for block in blocks:
                y = block(y)
                outputs.append(y)
            result.append(outputs)
        return result

    def forward(self, pair: torch.Tensor) -> list[torch.Tensor]:
        return [scale[-1] for scale in self.features(pair)]


register_preset("patchgan-tiny", "patchgan", base_channels=4, n_layers=2)
register_preset("patchgan-ms-tiny", "patchgan-ms", base_channels=4, n_layers=2, num_scales=2)
