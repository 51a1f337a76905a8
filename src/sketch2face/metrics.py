"""Image quality metrics, in floating point on images scaled to [0, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_unit(images: torch.Tensor) -> torch.Tensor:
    return images.double()


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for (N, C, H, W) images in [0, 1]; identical images give +inf."""
    mse = ((_as_unit(prediction) - _as_unit(target)) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def ssim(prediction: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004), Gaussian 11x11 window with sigma 1.5, mean over channels.

    Follows scikit-image's ``structural_similarity(gaussian_weights=True, data_range=1)``:
    reflect padding, sample covariances, and a border of (window-1)/2 excluded from the mean.
    """
    x, y = _as_unit(prediction), _as_unit(target)
    channels = x.shape[1]
    g = _gaussian_window(window, sigma)
    kernel_h = g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    kernel_v = g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        t = F.pad(t, (pad, pad, pad, pad), mode="reflect")
        t = F.conv2d(t, kernel_h, groups=channels)
        return F.conv2d(t, kernel_v, groups=channels)

    c1, c2 = (0.01) ** 2, (0.03) ** 2
    ux, uy = blur(x), blur(y)
    uxx, uyy, uxy = blur(x * x), blur(y * y), blur(x * y)
    n = window * window
    cov_norm = n / (n - 1)  # scikit-image uses sample covariances
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    s = s[:, :, pad:-pad, pad:-pad]
    return s.flatten(1).mean(1)


def mse_255(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error on the 0-255 scale, in floating point (seed 004 squared uint8
    differences, which wrap around; this does not)."""
    return (((_as_unit(prediction) - _as_unit(target)) * 255) ** 2).flatten(1).mean(1)


def l2_255(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image Euclidean norm of the difference over all pixels and channels, on the 0-255 scale."""
    return (((_as_unit(prediction) - _as_unit(target)) * 255) ** 2).flatten(1).sum(1).sqrt()


def pearson_r(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image Pearson product-moment correlation over all pixel values (seed 003's R)."""
    x = _as_unit(prediction).flatten(1)
    y = _as_unit(target).flatten(1)
    x = x - x.mean(1, keepdim=True)
    y = y - y.mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-12)
