"""Convolutional Sketch Inversion network (Güçlütürk et al., "Convolutional Sketch Inversion",
ECCV workshops 2016, Table 1; after Johnson et al. 2016): 9x9 conv 32, two stride-2 3x3 convs
(64, 128), five residual blocks, two stride-1/2 deconvs (64, 32), 9x9 conv to RGB with tanh."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import ResidualBlock, init_weights, make_norm
from .registry import register_model, register_preset


@register_model("csi-resnet")
class SketchInversionNet(nn.Module):
    kind = "generator"

    @dataclass
    class Config:
        in_channels: int = 1
        out_channels: int = 3
        base_channels: int = 32
        residual_blocks: int = 5
        norm: str = "batch"

    def __init__(self, config: Config):
        super().__init__()
        self.config = c = config
        w = c.base_channels
        bias = c.norm != "batch"

        def conv(cin, cout, k, s):
            return [nn.Conv2d(cin, cout, k, s, k // 2, bias=bias), make_norm(c.norm, cout), nn.ReLU()]

        def deconv(cin, cout):
            return [nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=bias), make_norm(c.norm, cout),
                    nn.ReLU()]

        self.net = nn.Sequential(
            *conv(c.in_channels, w, 9, 1), *conv(w, 2 * w, 3, 2), *conv(2 * w, 4 * w, 3, 2),
            *[ResidualBlock(4 * w, c.norm, reflect_pad=False) for _ in range(c.residual_blocks)],
            *deconv(4 * w, 2 * w), *deconv(2 * w, w),
            # Table 1: the last layer too is followed by batch normalization, then tanh
            nn.Conv2d(w, c.out_channels, 9, 1, 4, bias=bias), make_norm(c.norm, c.out_channels), nn.Tanh(),
        )
        init_weights(self)

    def forward(self, sketch: torch.Tensor) -> torch.Tensor:
        return self.net(sketch)


register_preset("csi-resnet-tiny", "csi-resnet", base_channels=4, residual_blocks=2)
