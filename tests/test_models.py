import pytest
import torch

from sketch2face import create_model, list_models


@pytest.mark.parametrize("name", [n for n in list_models("generator") if n.endswith("-tiny")])
def test_generator_shape_range_and_backward(name):
    model = create_model(name)
    x = torch.rand(2, model.config.in_channels, 32, 32) * 2 - 1
    y = model(x)
    assert y.shape == (2, model.config.out_channels, 32, 32)
    assert torch.isfinite(y).all()
    assert y.min() >= -1 and y.max() <= 1
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", [n for n in list_models("discriminator") if n.endswith("-tiny")])
def test_discriminator_gives_patch_logits(name):
    model = create_model(name)
    pair = torch.randn(2, model.config.in_channels, 32, 32)
    logits = model(pair)
    for scale_logits in logits if isinstance(logits, list) else [logits]:
        assert scale_logits.ndim == 4 and scale_logits.shape[:2] == (2, 1) and scale_logits.shape[2] > 1
    features = model.features(pair)  # per scale: every block's output, logits last
    assert all(len(scale) >= 3 for scale in features)


def test_every_architecture_has_a_tiny_preset():
    names = list_models()
    for arch in [n for n in names if not n.endswith("-tiny")]:
        assert f"{arch}-tiny" in names


def test_create_model_rejects_unknown_names_and_fields():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("no-such-model")
    with pytest.raises(ValueError, match="unknown config field"):
        create_model("unet-tiny", widht=3)


def test_unet_width_and_depth_are_configurable():
    small = create_model("unet", base_channels=8, max_channels=32, num_downs=6)
    large = create_model("unet", base_channels=16, max_channels=64, num_downs=6)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(large) > 3 * count(small)
    assert small(torch.zeros(1, 1, 64, 64)).shape == (1, 3, 64, 64)
