"""U-Net with a residual bottleneck (seed 000, "From Sketch to Reality"): the pix2pix U-Net
(encoder 64,128,256,512,512,512,512,512, decoder with skips, batch norm, dropout) with residual
blocks between the innermost encoder and decoder levels."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .layers import ResidualBlock
from .registry import register_model, register_preset
from .unet import UNetGenerator


@register_model("unet-res")
class UNetResGenerator(UNetGenerator):
    kind = "generator"

    @dataclass
    class Config(UNetGenerator.Config):
        residual_blocks: int = 4
        residual_norm: str = "none"
        """Norm inside the residual blocks. At 256x256 with 8 levels the bottleneck is 1x1, where batch
        or instance statistics are undefined for a batch of one, hence none by default."""

    def build_bottleneck(self, channels: int) -> nn.Module:
        c = self.config
        # zero padding: reflect padding is undefined on a 1x1 map
        return nn.Sequential(*[ResidualBlock(channels, c.residual_norm, reflect_pad=False)
                               for _ in range(c.residual_blocks)])


register_preset("unet-res-tiny", "unet-res", base_channels=4, max_channels=16, num_downs=5, residual_blocks=2)
