import numpy as np
import pytest
import torch

from sketch2face.metrics import psnr, ssim


def test_psnr_of_independent_uniform_noise_is_about_7_7_db():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 64, 64, generator=generator), torch.rand(2, 3, 64, 64, generator=generator)
    # E[(a-b)^2] = 1/6 for independent U(0,1): 10*log10(6) = 7.78 dB
    assert psnr(a, b).mean().item() == pytest.approx(7.78, abs=0.1)


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    a = torch.rand(1, 3, 32, 32)
    assert torch.isinf(psnr(a, a)).all()
    assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-9)


def test_ssim_matches_scikit_image():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((48, 40, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    expected = skimage_metrics.structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                                     use_sample_covariance=True, data_range=1.0)
    ours = ssim(torch.from_numpy(a).permute(2, 0, 1)[None], torch.from_numpy(b).permute(2, 0, 1)[None]).item()
    assert ours == pytest.approx(expected, abs=1e-4)


def test_shifting_an_image_by_one_pixel_lowers_ssim():
    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.random((1, 1, 64, 64)))
    image = torch.nn.functional.avg_pool2d(image, 3, 1, 1)  # some spatial structure
    shifted = torch.roll(image, 1, dims=3)
    assert ssim(image, shifted).item() < 0.95


def test_mse_and_l2_on_the_255_scale_have_known_values_and_do_not_wrap():
    """Images in [0, 1]: a difference of 10/255 on every pixel of a 3x4x5 image gives MSE 100 and
    L2 sqrt(60 * 100); 250 vs 10 gives 240^2 (uint8 arithmetic, seed 004's, would give 224^2)."""
    from sketch2face.metrics import l2_255, mse_255

    target = torch.zeros(2, 3, 4, 5)
    prediction = target.clone()
    prediction[0] += 10 / 255
    prediction[1] += 250 / 255
    target[1] += 10 / 255
    assert mse_255(prediction, target).tolist() == pytest.approx([100.0, 240.0 ** 2])
    assert l2_255(prediction, target).tolist() == pytest.approx([(60 * 100.0) ** 0.5, (60 * 240.0 ** 2) ** 0.5])
    assert mse_255(target, target).tolist() == [0.0, 0.0]


def test_pearson_r_matches_numpy_per_image():
    """pearson_r is numpy's correlation coefficient of each image's pixels: 1 for an affine copy,
    -1 for a negated one, and corrcoef's value for unrelated noise."""
    from sketch2face.metrics import pearson_r

    generator = torch.Generator().manual_seed(3)
    a, b = torch.rand(3, 3, 8, 8, generator=generator), torch.rand(3, 3, 8, 8, generator=generator)
    expected = [np.corrcoef(x.flatten().numpy(), y.flatten().numpy())[0, 1] for x, y in zip(a, b)]
    assert pearson_r(a, b).tolist() == pytest.approx(expected, abs=1e-9)
    assert pearson_r(a, 0.5 * a + 0.2).tolist() == pytest.approx([1.0] * 3)
    assert pearson_r(a, 1 - a).tolist() == pytest.approx([-1.0] * 3)
