"""Widen a trained U-Net without changing what it computes (Net2WiderNet; Chen, Goodfellow and Shlens,
"Net2Net", ICLR 2016), so a larger generator can continue a long run instead of starting from scratch.

Every new channel of a layer copies one of the layer's old channels (its filter, bias and batch-norm
statistics); every layer that reads those channels divides the weights it reads a copied channel with
by the number of copies. The widened network computes the same function, in training and in eval
mode, up to the small noise added to the copies, which lets them drift apart when training goes on
(without it the copies would get equal gradients and stay copies). Only the generator's width changes;
a U-Net's skip connections are followed, so a widened encoder level is read correctly by both the next
encoder level and the decoder level it feeds.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from .unet import UNetGenerator


def widen_unet(model: UNetGenerator, max_channels: int, noise: float = 0.01, seed: int = 0) -> UNetGenerator:
    """A copy of ``model`` with ``max_channels`` as its widest level, computing the same function.

    Args:
        noise: standard deviation of the noise added to each copied filter, relative to the standard
            deviation of its layer's weights (0: exactly the same function).
    Raises:
        ValueError: ``max_channels`` smaller than the model's, or a model that is not a plain U-Net.
    """
    if type(model) is not UNetGenerator:
        raise ValueError(f"only a plain U-Net can be widened, got {type(model).__name__}")
    old_config = model.config
    if max_channels < old_config.max_channels:
        raise ValueError(f"max_channels {max_channels} is below the model's {old_config.max_channels}")
    wide = UNetGenerator(replace(old_config, max_channels=max_channels))
    n = old_config.num_downs
    old_widths = [min(old_config.base_channels * 2**i, old_config.max_channels) for i in range(n)]
    new_widths = [min(old_config.base_channels * 2**i, max_channels) for i in range(n)]
    rng = np.random.default_rng(seed)

    def mapping(level: int) -> np.ndarray:
        """For each new channel of a level, the old channel it copies."""
        old, new = old_widths[level], new_widths[level]
        return np.concatenate([np.arange(old), rng.integers(0, old, new - old)])

    encoded = [mapping(i) for i in range(n)]  # outputs of encoder level i (the skips)
    decoded = [mapping(i) for i in range(n - 1)]  # outputs of decoder level i + 1 (concatenated with skip i)

    def counts_of(m: np.ndarray, width: int) -> np.ndarray:
        """For each new channel, how many new channels copy the same old one."""
        return np.bincount(m, minlength=width)[m]

    def reads(level: int) -> tuple[np.ndarray, np.ndarray]:
        """What decoder level ``level`` reads: for each new input channel, the old one, and its copy count."""
        if level == n - 1 or level < old_config.skip_from:
            parts = [(encoded[level] if level == n - 1 else decoded[level], 0)]
        else:
            parts = [(decoded[level], 0), (encoded[level], old_widths[level])]
        index = np.concatenate([m + offset for m, offset in parts])
        counts = np.concatenate([counts_of(m, old_widths[level]) for m, _ in parts])
        return index, counts

    with torch.no_grad():
        for level in range(n):
            old_layer, new_layer = model.encoder[level], wide.encoder[level]
            out_map = encoded[level]
            if level == 0:
                in_map, in_counts = np.arange(old_config.in_channels), np.ones(old_config.in_channels, int)
            else:
                in_map, in_counts = encoded[level - 1], counts_of(encoded[level - 1], old_widths[level - 1])
            _copy_layers(old_layer, new_layer, out_map, in_map, in_counts, old_widths[level], noise, rng)
        for level in range(n):
            in_map, in_counts = reads(level)
            if level == 0:
                out_map = np.arange(old_config.out_channels)
                out_width = old_config.out_channels
            else:
                out_map, out_width = decoded[level - 1], old_widths[level - 1]
            _copy_layers(model.decoder[level], wide.decoder[level], out_map, in_map, in_counts, out_width, noise, rng)
    wide.train(model.training)
    return wide


def _copy_layers(old: nn.Module, new: nn.Module, out_map: np.ndarray, in_map: np.ndarray,
                 in_counts: np.ndarray, old_out: int, noise: float, rng: np.random.Generator) -> None:
    """Fill ``new``'s convolution and norm (one level) from ``old``'s through the channel maps."""
    old_modules = [m for m in old.modules() if not isinstance(m, nn.Sequential)]
    new_modules = [m for m in new.modules() if not isinstance(m, nn.Sequential)]
    copies = out_map >= 0
    copies[:old_out] = False  # the channels that are new, i.e. copies of another
    for old_m, new_m in zip(old_modules, new_modules):
        if isinstance(old_m, (nn.Conv2d, nn.ConvTranspose2d)):
            out_index, in_index = torch.as_tensor(out_map), torch.as_tensor(in_map)
            scale = torch.as_tensor(1.0 / in_counts, dtype=old_m.weight.dtype)
            transposed = isinstance(old_m, nn.ConvTranspose2d)  # weight is (in, out, k, k)
            weight = old_m.weight.transpose(0, 1) if transposed else old_m.weight
            weight = weight[out_index][:, in_index] * scale.view(1, -1, 1, 1)
            if noise > 0 and copies.any():
                jitter = torch.from_numpy(rng.normal(0.0, noise * float(old_m.weight.std()),
                                                     weight[copies].shape)).to(weight.dtype)
                weight[torch.as_tensor(copies)] += jitter
            new_m.weight.copy_(weight.transpose(0, 1) if transposed else weight)
            if old_m.bias is not None:
                new_m.bias.copy_(old_m.bias[out_index])
        elif isinstance(old_m, (nn.BatchNorm2d, nn.InstanceNorm2d)):
            index = torch.as_tensor(out_map)
            for name in ("weight", "bias", "running_mean", "running_var"):
                if getattr(old_m, name) is not None:
                    getattr(new_m, name).copy_(getattr(old_m, name)[index])
            if old_m.num_batches_tracked is not None:
                new_m.num_batches_tracked.copy_(old_m.num_batches_tracked)
