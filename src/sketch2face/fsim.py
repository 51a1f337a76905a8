"""FSIM and FSIMc (Zhang, Zhang, Mou, Zhang, "FSIM: A Feature Similarity Index for Image Quality
Assessment", IEEE TIP 2011): a line-by-line port of the authors' MATLAB ``FeatureSIM.m`` with its
``phasecong2`` (Kovesi's phase congruency as modified by the FSIM authors).

Written here rather than imported: the maintained Python port (piq) imports torchvision at package
import, which cannot be installed beside this project's torch. The tests compare this port with
piq's ``fsim`` loaded without torchvision.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import convolve2d

_NSCALE, _NORIENT = 4, 4
_MIN_WAVELENGTH, _MULT, _SIGMA_ON_F = 6, 2, 0.55
_D_THETA_ON_SIGMA, _K, _EPSILON = 1.2, 2.0, 1e-4
_T1, _T2, _T3, _T4, _LAMBDA = 0.85, 160.0, 200.0, 200.0, 0.03


def _centred_ranges(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's normalised +/-0.5 frequency grids for odd and even sizes."""
    if cols % 2:
        xrange = np.arange(-(cols - 1) / 2, (cols - 1) / 2 + 1) / (cols - 1)
    else:
        xrange = np.arange(-cols / 2, cols / 2) / cols
    if rows % 2:
        yrange = np.arange(-(rows - 1) / 2, (rows - 1) / 2 + 1) / (rows - 1)
    else:
        yrange = np.arange(-rows / 2, rows / 2) / rows
    return np.meshgrid(xrange, yrange)


def _lowpass_filter(rows: int, cols: int, cutoff: float = 0.45, order: int = 15) -> np.ndarray:
    x, y = _centred_ranges(rows, cols)
    radius = np.sqrt(x**2 + y**2)
    return np.fft.ifftshift(1.0 / (1.0 + (radius / cutoff) ** (2 * order)))


def phase_congruency(image: np.ndarray) -> np.ndarray:
    """``phasecong2.m``: phase congruency map of a greyscale float64 image."""
    rows, cols = image.shape
    image_fft = np.fft.fft2(image)
    x, y = _centred_ranges(rows, cols)
    radius = np.fft.ifftshift(np.sqrt(x**2 + y**2))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1.0
    sintheta, costheta = np.sin(theta), np.cos(theta)
    lowpass = _lowpass_filter(rows, cols)

    log_gabor = []
    for s in range(_NSCALE):
        centre_frequency = 1.0 / (_MIN_WAVELENGTH * _MULT**s)
        g = np.exp(-(np.log(radius / centre_frequency) ** 2) / (2 * np.log(_SIGMA_ON_F) ** 2)) * lowpass
        g[0, 0] = 0.0
        log_gabor.append(g)

    theta_sigma = np.pi / _NORIENT / _D_THETA_ON_SIGMA
    energy_all = np.zeros((rows, cols))
    amplitude_all = np.zeros((rows, cols))
    for o in range(_NORIENT):
        angle = o * np.pi / _NORIENT
        ds = sintheta * np.cos(angle) - costheta * np.sin(angle)
        dc = costheta * np.cos(angle) + sintheta * np.sin(angle)
        spread = np.exp(-(np.abs(np.arctan2(ds, dc)) ** 2) / (2 * theta_sigma**2))

        sum_even = np.zeros((rows, cols))
        sum_odd = np.zeros((rows, cols))
        sum_amplitude = np.zeros((rows, cols))
        responses, ifft_filters = [], []
        for s in range(_NSCALE):
            filt = log_gabor[s] * spread
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * np.sqrt(rows * cols))
            response = np.fft.ifft2(image_fft * filt)
            responses.append(response)
            sum_amplitude += np.abs(response)
            sum_even += np.real(response)
            sum_odd += np.imag(response)
            if s == 0:
                em_n = np.sum(filt**2)
        x_energy = np.sqrt(sum_even**2 + sum_odd**2) + _EPSILON
        mean_even, mean_odd = sum_even / x_energy, sum_odd / x_energy
        energy = np.zeros((rows, cols))
        for response in responses:
            e, od = np.real(response), np.imag(response)
            energy += e * mean_even + od * mean_odd - np.abs(e * mean_odd - od * mean_even)

        median_e2n = np.median(np.abs(responses[0]) ** 2)
        mean_e2n = -median_e2n / np.log(0.5)
        noise_power = mean_e2n / em_n
        est_sum_an2 = sum(f**2 for f in ifft_filters)
        est_sum_ai_aj = np.zeros((rows, cols))
        for si in range(_NSCALE - 1):
            for sj in range(si + 1, _NSCALE):
                est_sum_ai_aj += ifft_filters[si] * ifft_filters[sj]
        est_noise_energy2 = 2 * noise_power * np.sum(est_sum_an2) + 4 * noise_power * np.sum(est_sum_ai_aj)
        tau = np.sqrt(est_noise_energy2 / 2)
        est_noise_energy = tau * np.sqrt(np.pi / 2)
        est_noise_energy_sigma = np.sqrt((2 - np.pi / 2) * tau**2)
        threshold = (est_noise_energy + _K * est_noise_energy_sigma) / 1.7
        energy_all += np.maximum(energy - threshold, 0.0)
        amplitude_all += sum_amplitude
    return energy_all / amplitude_all


def _conv_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return convolve2d(image, kernel, mode="same", boundary="fill", fillvalue=0)


def fsim(reference: np.ndarray, distorted: np.ndarray) -> tuple[float, float]:
    """(FSIM, FSIMc) of two uint8 (or 0-255 float) images, HxW or HxWx3, as ``FeatureSIM.m`` returns them.

    FSIM uses luminance only; FSIMc adds the YIQ chrominance term (1.0 factor for greyscale input).
    """
    ref = np.asarray(reference, dtype=np.float64)
    dis = np.asarray(distorted, dtype=np.float64)
    if ref.shape != dis.shape:
        raise ValueError(f"images differ in shape: {ref.shape} vs {dis.shape}")
    rows, cols = ref.shape[:2]
    if ref.ndim == 3:
        def yiq(img):
            r, g, b = img[..., 0], img[..., 1], img[..., 2]
            return (0.299 * r + 0.587 * g + 0.114 * b, 0.596 * r - 0.274 * g - 0.322 * b,
                    0.211 * r - 0.523 * g + 0.312 * b)
        y1, i1, q1 = yiq(ref)
        y2, i2, q2 = yiq(dis)
    else:
        y1, y2 = ref, dis
        i1 = i2 = q1 = q2 = np.ones((rows, cols))

    factor = max(1, round(min(rows, cols) / 256))
    if factor > 1:
        kernel = np.ones((factor, factor)) / factor**2
        y1, y2, i1, i2, q1, q2 = (_conv_same(m, kernel)[::factor, ::factor] for m in (y1, y2, i1, i2, q1, q2))

    pc1, pc2 = phase_congruency(y1), phase_congruency(y2)
    dx = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16
    dy = np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]) / 16
    g1 = np.sqrt(_conv_same(y1, dx) ** 2 + _conv_same(y1, dy) ** 2)
    g2 = np.sqrt(_conv_same(y2, dx) ** 2 + _conv_same(y2, dy) ** 2)

    pc_sim = (2 * pc1 * pc2 + _T1) / (pc1**2 + pc2**2 + _T1)
    gradient_sim = (2 * g1 * g2 + _T2) / (g1**2 + g2**2 + _T2)
    pc_max = np.maximum(pc1, pc2)
    fsim_value = np.sum(gradient_sim * pc_sim * pc_max) / np.sum(pc_max)
    i_sim = (2 * i1 * i2 + _T3) / (i1**2 + i2**2 + _T3)
    q_sim = (2 * q1 * q2 + _T4) / (q1**2 + q2**2 + _T4)
    chroma = np.real(np.power((i_sim * q_sim).astype(np.complex128), _LAMBDA))
    fsimc_value = np.sum(gradient_sim * pc_sim * chroma * pc_max) / np.sum(pc_max)
    return float(fsim_value), float(fsimc_value)
