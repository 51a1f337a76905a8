"""PatchGAN discriminator (pix2pix): classifies overlapping patches of (sketch, photo) pairs."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import init_weights, make_norm
from .registry import register_model, register_preset


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
        self.config = config
        c = config
        bias = c.norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(c.in_channels, c.base_channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = c.base_channels
        for n in range(1, c.n_layers + 1):
            new_width = c.base_channels * min(2**n, 8)
            stride = 2 if n < c.n_layers else 1
            layers += [
                nn.Conv2d(width, new_width, 4, stride, 1, bias=bias),
                make_norm(c.norm, new_width),
                nn.LeakyReLU(0.2),
            ]
            width = new_width
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, 1, H', W') patch logits."""
        return self.net(pair)


register_preset("patchgan-tiny", "patchgan", base_channels=4, n_layers=2)
