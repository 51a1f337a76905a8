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
    assert all(len(scale) >= 2 for scale in features)  # something for feature matching besides the logits


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


def test_unet_without_fine_skips_starts_from_a_trained_unet():
    """skip_from=2 drops the two finest skip connections; load_initial_weights keeps the decoder's own
    input channels of the two layers that lost their skip and copies every other weight."""
    from sketch2face.train import load_initial_weights

    for upsample, in_dim in (("resize", 1), ("transpose", 0)):  # a transposed conv's weight is (in, out, k, k)
        full = create_model("unet-tiny", upsample=upsample)
        no_fine_skips = create_model("unet-tiny", upsample=upsample, skip_from=2)
        cut = load_initial_weights(no_fine_skips, full.state_dict())
        layer = 2 if upsample == "resize" else 1  # ReLU, [Upsample,] conv
        assert cut == [f"decoder.0.{layer}.weight", f"decoder.1.{layer}.weight"]
        own = no_fine_skips.state_dict()
        for name, value in full.state_dict().items():
            expected = value.narrow(in_dim, 0, own[name].shape[in_dim]) if name in cut else value
            assert torch.equal(own[name], expected), name
        assert no_fine_skips(torch.zeros(1, 1, 64, 64)).shape == (1, 3, 64, 64)
    with pytest.raises(RuntimeError):  # a model that is not a cut-down copy is refused
        load_initial_weights(create_model("unet-tiny", base_channels=8), full.state_dict())
    with pytest.raises(ValueError, match="skip_from"):
        create_model("unet-tiny", skip_from=5)


def test_diff_augment_moves_pixels_blanks_a_square_and_colours_only_the_photo():
    from sketch2face.losses import DiffAugment

    pair = torch.randn(2, 4, 32, 32)  # sketch plane + photo
    shift = DiffAugment(["translation"])
    # content moves right by 3 and up by 2 pixels; what comes in at the edge is zero
    moved = shift(pair, {"shift": torch.tensor([[2 * 3 / 32, 2 * -2 / 32]] * 2)})
    assert torch.equal(moved[:, :, 10, 10], pair[:, :, 12, 7])
    assert moved[:, :, :, :3].abs().sum() == 0 and moved[:, :, -2:, :].abs().sum() == 0
    cut = DiffAugment(["cutout"])(pair, {"cutout_centre": torch.tensor([[16, 16], [0, 0]])})
    assert cut[0, :, 8:24, 8:24].abs().sum() == 0 and torch.equal(cut[0, :, :8], pair[0, :, :8])
    assert cut[1, :, :8, :8].abs().sum() == 0 and torch.equal(cut[1, :, 8:], pair[1, :, 8:])
    colour = DiffAugment(["color"])
    recoloured = colour(pair, colour.sample(2, 32, 32))
    assert torch.equal(recoloured[:, :1], pair[:, :1])  # the sketch plane is not a photo: no colour change
    assert not torch.allclose(recoloured[:, 1:], pair[:, 1:])
    # one transform per sample, shared by every call with the same parameters (real and fake alike)
    every = DiffAugment(["color", "translation", "cutout"])
    params = every.sample(2, 32, 32)
    assert torch.equal(every(pair, params), every(pair, params))
    fake = pair.clone().requires_grad_()
    every(fake, params).sum().backward()  # differentiable: the generator learns through it
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown discriminator augmentations"):
        DiffAugment(["rotate"])


def test_identity_loss_is_zero_for_the_same_face_and_pulls_a_different_one(identity_head_file, tmp_path):
    """IdentityLoss: 0 when the face is the photo; positive for another image, with a gradient that
    lowers it; a missing head file names the script that makes it."""
    from sketch2face.losses import IdentityLoss

    loss = IdentityLoss(identity_head_file)
    generator = torch.Generator().manual_seed(1)
    photo = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    assert loss(photo, photo).item() < 1e-5
    face = (torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1).requires_grad_()
    before = loss(face, photo)
    assert before.item() > 1e-3
    before.backward()
    with torch.no_grad():
        moved = face - 0.05 * face.grad / face.grad.abs().max()
    assert loss(moved, photo).item() < before.item()
    assert not any(p.requires_grad for p in loss.parameters())
    with pytest.raises(RuntimeError, match="train_identity_head"):
        IdentityLoss(tmp_path / "missing.safetensors")


def test_identity_loss_from_the_perceptual_pass_equals_its_own(identity_head_file):
    """gan_step feeds the identity loss the perceptual loss's last tap instead of running EfficientNet
    again: the loss and the face's gradient must be the same either way."""
    from sketch2face.losses import IdentityLoss, PerceptualLoss

    perceptual, identity = PerceptualLoss(), IdentityLoss(identity_head_file)
    generator = torch.Generator().manual_seed(2)
    photo = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    face = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    own_face, shared_face = face.clone().requires_grad_(), face.clone().requires_grad_()
    own = identity(own_face, photo)
    own.backward()
    face_taps, photo_taps = perceptual.taps(shared_face, photo)
    shared = identity(shared_face, photo, stride32=(face_taps[-1], photo_taps[-1]))
    shared.backward()
    assert torch.allclose(own, shared, atol=1e-6)
    assert torch.allclose(own_face.grad, shared_face.grad, atol=1e-7)
    assert perceptual(face, photo).item() == pytest.approx(perceptual(face, photo, taps=(face_taps, photo_taps)).item())


def test_identity_features_keep_where_things_are():
    """identity_features pools the stride-32 map over a 4x4 grid: a face and its upside-down copy differ."""
    from sketch2face.losses import efficientnet_lite0, identity_features

    net = efficientnet_lite0().eval()
    image = torch.linspace(-1, 1, 128).view(1, 1, 128, 1).expand(1, 3, 128, 128).contiguous()
    with torch.no_grad():
        upright, flipped = identity_features(net, image), identity_features(net, image.flip(2))
    assert upright.shape == (1, 3072)
    assert (upright - flipped).abs().max() > 1e-2


def test_shipped_identity_head_tells_new_people_apart_better_than_the_raw_features():
    """The bundled head (scripts/train_identity_head.py) fits IdentityLoss and, as its metadata records,
    doubled identity rank-1 among held-out LFW people over the raw features it reads."""
    from safetensors import safe_open

    from sketch2face.losses import IDENTITY_HEAD_FILE

    with safe_open(str(IDENTITY_HEAD_FILE), "pt") as head:
        figures = head.metadata()
        assert tuple(head.get_tensor("projection").shape) == (128, 3072)
        assert tuple(head.get_tensor("mean").shape) == (3072,)
    assert float(figures["rank1_head"]) >= 2 * float(figures["rank1_raw_features"]) - 0.01
    assert int(figures["held_out_people"]) >= 200


@pytest.mark.parametrize("upsample", ["resize", "transpose"])
def test_a_widened_unet_computes_what_it_was_trained_to(upsample):
    """Net2WiderNet: every widened level (encoder outputs, skips and decoder outputs) copies channels and
    its readers divide by the copies, so without noise the output is the same in eval and train mode."""
    from sketch2face.models.widen import widen_unet

    torch.manual_seed(0)
    narrow = create_model("unet", base_channels=4, max_channels=8, num_downs=5, upsample=upsample, dropout=0)
    sketch = torch.rand(3, 1, 32, 32) * 2 - 1
    with torch.no_grad():  # weights whose signal reaches the innermost level, and the norms' statistics of it
        for module in narrow.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(10)
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = 1.0
        narrow.train()(sketch)
    wide = widen_unet(narrow, 16, noise=0)
    assert [level[1].out_channels for level in wide.encoder[1:]] == [8, 16, 16, 16]
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in narrow.parameters())
    for training in (False, True):
        narrow.train(training)
        wide.train(training)
        with torch.no_grad():
            assert torch.allclose(wide(sketch), narrow(sketch), atol=1e-5)
    wide.eval()
    narrow.eval()
    noisy = widen_unet(narrow, 16, noise=0.01).eval()
    with torch.no_grad():
        change = (noisy(sketch) - narrow(sketch)).abs().max()
    assert 0 < change < 0.1  # the copies differ a little, so training can pull them apart
    with pytest.raises(ValueError, match="below"):
        widen_unet(narrow, 4)


def test_projected_discriminator_trains_only_its_heads_and_reads_the_sketch():
    """The frozen EfficientNet stays out of the parameters and the state dict; the fixed random
    projections are buffers drawn from the config's seed; the judged image gets a gradient (the
    generator learns through it) and the sketch changes the verdict (the discriminator is conditional)."""
    torch.manual_seed(0)
    model = create_model("projected-tiny").eval()
    names = list(model.state_dict())
    assert not any(n.startswith("net") or "_blocks" in n for n in names)
    assert sum(p.numel() for p in model.parameters()) < 20_000
    assert all(n.startswith("heads.") for n, _ in model.named_parameters())
    twin = create_model("projected-tiny")
    assert torch.equal(twin.channel_mix0, model.channel_mix0)
    assert not torch.equal(create_model("projected-tiny", seed=1).channel_mix0, model.channel_mix0)
    twin.load_state_dict(model.state_dict())
    twin.eval()
    pair = torch.rand(2, model.config.in_channels, 32, 32) * 2 - 1
    pair.requires_grad_(True)
    logits = model(pair)
    assert all(torch.equal(a, b) for a, b in zip(logits, twin(pair)))
    sum(scale.mean() for scale in logits).backward()
    assert pair.grad[:, 1:].abs().sum() > 0 and all(p.grad is not None for p in model.parameters())
    other_sketch = pair.detach().clone()
    other_sketch[:, :1] = -other_sketch[:, :1]
    assert not torch.allclose(model(other_sketch)[0], logits[0].detach())
