"""dl.netvis: saliency, fooling images and class visualisation against autograd oracles; the helpers."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from dl.gradcheck import rel_error
from dl.models.squeezenet import SQUEEZENET_MEAN, SQUEEZENET_STD
from dl.netvis import (
    SmallConvNet,
    blur_image,
    class_visualization_update_step,
    compute_saliency_maps,
    create_class_visualization,
    deprocess,
    gaussian_kernel1d,
    jitter,
    make_fooling_image,
    preprocess,
    random_small_conv_net,
    rescale,
    top_classes,
)


def images(seed, n=4, size=12, dtype=torch.float64):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def net(seed=0, **kwargs):
    return random_small_conv_net(seed, dtype=torch.float64, **kwargs)


def score_gradient(model, x, target):
    """d scores[0, target] / d x for one image x (1, 3, H, W), by torch.autograd.grad."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[0, target], x)
    return g


# ------------------------------------------------------------------------------------------------
# The network of the checks


def test_random_small_conv_net_is_seeded_in_eval_mode_and_behaves_otherwise_in_training_mode():
    a, b, c = net(3), net(3), net(4)
    assert not a.training
    for (name, x), y, z in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(x, y), name
        if x.is_floating_point():
            assert not torch.equal(x, z), name
    X = images(0)
    eval_scores = a(X)
    assert eval_scores.shape == (4, 10) and eval_scores.dtype == torch.float64
    torch.manual_seed(0)
    assert rel_error(a.train()(X), eval_scores) > 1e-2  # batch statistics and dropout


def test_score_scale_multiplies_the_scores_linear_part():
    X = images(1)
    base, scaled = net(5), net(5, score_scale=30.0)
    bias = base.fc.bias.detach()
    assert rel_error(scaled(X) - bias, 30 * (base(X) - bias)) < 1e-6  # weights are stored in float32 first


# ------------------------------------------------------------------------------------------------
# Saliency


def test_saliency_is_the_abs_gradient_of_the_correct_score_maxed_over_channels():
    model, X, y = net(), images(2), torch.tensor([1, 7, 3, 1])
    before = X.clone()
    saliency = compute_saliency_maps(X, y, model)
    expected = torch.stack([score_gradient(model, X[i : i + 1], int(y[i]))[0].abs().amax(dim=0) for i in range(4)])
    assert saliency.shape == (4, 12, 12) and saliency.dtype == torch.float64
    assert rel_error(saliency, expected) < 1e-12
    assert torch.equal(X, before) and X.grad is None


def test_saliency_sets_eval_mode_first():
    model, X, y = net(), images(3), torch.tensor([0, 1, 2, 3])
    expected = compute_saliency_maps(X, y, model)
    model.train()
    assert rel_error(compute_saliency_maps(X, y, model), expected) < 1e-12
    assert not model.training


# ------------------------------------------------------------------------------------------------
# Fooling images


@pytest.mark.parametrize("target", [0, 3, 9])
def test_fooling_image_is_predicted_as_the_target_and_steps_have_unit_length(target):
    model, X = net(), images(4, n=1)
    assert model(X).argmax().item() != target
    fooling = make_fooling_image(X, target, model)
    assert fooling.shape == X.shape and not fooling.requires_grad
    assert model(fooling).argmax().item() == target
    # one step of length 1 per iteration: the first step is exactly the normalised gradient
    first = make_fooling_image(X, target, model, max_iterations=1)
    g = score_gradient(model, X, target)
    assert rel_error(first, X + g / g.norm()) < 1e-12
    steps = next(k for k in range(1, 101) if model(make_fooling_image(X, target, model, max_iterations=k)).argmax() == target)
    assert torch.equal(make_fooling_image(X, target, model, max_iterations=steps), fooling)
    assert (fooling - X).norm() <= steps + 1e-9


def test_fooling_stops_at_once_when_the_target_is_already_predicted_and_leaves_X_alone():
    model, X = net(), images(5, n=1)
    predicted = model(X).argmax().item()
    before = X.clone()
    assert torch.equal(make_fooling_image(X, predicted, model), X)
    make_fooling_image(X, (predicted + 1) % 10, model)
    assert torch.equal(X, before) and X.grad is None


# ------------------------------------------------------------------------------------------------
# Class visualisation


def test_update_step_ascends_the_regularised_score_in_place_with_a_normalised_step():
    model, l2_reg, lr = net(6), 0.3, 2.5
    img = images(6, n=1).requires_grad_(True)
    start = img.detach().clone()
    g = score_gradient(model, start, 4) - 2 * l2_reg * start  # d/dI (s_4(I) - l2_reg * ||I||^2)
    same = img
    assert class_visualization_update_step(img, model, 4, l2_reg, lr) is None
    assert same is img and img.is_leaf and img.requires_grad
    assert rel_error(img.detach(), start + lr * g / g.norm()) < 1e-12
    assert torch.count_nonzero(img.grad) == 0


def test_create_class_visualization_is_seeded_and_shows_the_iterations_asked_for():
    model = random_small_conv_net(7)
    shown = []

    def run(seed):
        return np.asarray(create_class_visualization(
            2, model, torch.device("cpu"), num_iterations=7, show_every=3, max_jitter=2, size=16,
            generator=torch.Generator().manual_seed(seed), callback=lambda img, t: shown.append((t, img.clone()))))

    first = run(0)
    assert [t for t, _ in shown] == [1, 3, 6, 7]
    low = torch.tensor([-m / s for m, s in zip(SQUEEZENET_MEAN, SQUEEZENET_STD)]).view(1, 3, 1, 1)
    high = torch.tensor([(1 - m) / s for m, s in zip(SQUEEZENET_MEAN, SQUEEZENET_STD)]).view(1, 3, 1, 1)
    last = shown[-1][1]
    assert last.shape == (1, 3, 16, 16) and bool((last >= low - 1e-6).all() and (last <= high + 1e-6).all())
    assert first.shape == (16, 16, 3) and first.dtype == np.uint8
    assert np.array_equal(run(0), first) and not np.array_equal(run(1), first)


# ------------------------------------------------------------------------------------------------
# Provided helpers


def test_jitter_shifts_circularly_and_back():
    X = images(8, n=2, size=6)
    shifted = jitter(X, 2, 1)
    expected = torch.cat([X[:, :, -1:], X[:, :, :-1]], dim=2)  # oy = 1 along H
    expected = torch.cat([expected[..., -2:], expected[..., :-2]], dim=3)  # ox = 2 along W
    assert torch.equal(shifted, expected) and torch.equal(jitter(shifted, -2, -1), X)
    assert torch.equal(jitter(X, 0, 0), X)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7])
def test_blur_matches_a_truncated_gaussian_filter_with_mirrored_borders_in_place(sigma):
    X = images(9, n=2, size=11)
    expected = ndimage.gaussian_filter(X.numpy(), sigma=(0, 0, sigma, sigma), mode="mirror", truncate=4.0)
    target = X.clone()
    assert blur_image(target, sigma) is target
    assert rel_error(target, torch.from_numpy(expected)) < 1e-12


def test_gaussian_kernel_is_normalised_with_radius_four_sigma():
    kernel = gaussian_kernel1d(0.5)
    assert len(kernel) == 5 and abs(float(kernel.sum()) - 1) < 1e-15 and torch.equal(kernel, kernel.flip(0))
    assert len(gaussian_kernel1d(2.0)) == 17
    with pytest.raises(ValueError, match="sigma must be positive"):
        gaussian_kernel1d(0)


def test_preprocess_and_deprocess_round_trip_a_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    x = preprocess(photo, size=20)
    assert x.shape == (1, 3, 20, 30) and x.dtype == torch.float32
    mean = torch.tensor(SQUEEZENET_MEAN).view(3, 1, 1)
    std = torch.tensor(SQUEEZENET_STD).view(3, 1, 1)
    torch.testing.assert_close(x[0] * std + mean, torch.from_numpy(photo).permute(2, 0, 1) / 255, rtol=0, atol=1e-6)
    back = np.asarray(deprocess(x, should_rescale=False))
    assert back.dtype == np.uint8 and np.abs(back.astype(int) - photo).max() <= 1
    assert preprocess(photo, size=10).shape == (1, 3, 10, 15)  # the shorter side becomes size


def test_rescale_and_deprocess_with_rescaling_span_the_full_range():
    x = images(10, n=1, size=5, dtype=torch.float32)
    scaled = rescale(x)
    assert float(scaled.min()) == 0.0 and float(scaled.max()) == 1.0
    assert torch.count_nonzero(rescale(torch.full((2, 2), 3.0))) == 0
    pixels = np.asarray(deprocess(0.01 * x))
    assert pixels.min() == 0 and pixels.max() == 255


def test_top_classes_orders_softmax_probabilities():
    names = [f"c{i}" for i in range(6)]
    top = top_classes(torch.tensor([0.0, 3.0, 1.0, 2.0, -1.0, 0.5]), names, k=3)
    assert [name for name, _ in top] == ["c1", "c3", "c2"]
    probabilities = torch.softmax(torch.tensor([0.0, 3.0, 1.0, 2.0, -1.0, 0.5], dtype=torch.float64), 0)
    assert abs(top[0][1] - float(probabilities[1])) < 1e-15


def test_small_conv_net_accepts_any_image_of_at_least_four_pixels():
    model = SmallConvNet(channels=4, num_classes=3).eval()
    assert model(torch.zeros(2, 3, 4, 9)).shape == (2, 3)
