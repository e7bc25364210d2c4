"""dl.data.transforms: conversions, geometry and colour against hand-computed values; seeded randomness."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dl.data.transforms import (
    CenterCrop, ColorJitter, Compose, Normalize, RandomApply, RandomCrop, RandomGrayscale,
    RandomHorizontalFlip, RandomResizedCrop, Resize, ToTensor, hsv_to_rgb, resize, rgb_to_hsv,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pixel(*rgb: float) -> torch.Tensor:
    """A 1x1 float RGB image (3, 1, 1)."""
    return torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1)


# --------------------------------------------------------------------------------------------
# ToTensor and Normalize


def test_to_tensor_from_numpy_and_pil():
    image = np.array([[[0, 255, 51], [102, 0, 255]]], dtype=np.uint8)  # (H=1, W=2, C=3)
    expected = torch.tensor([[[0.0, 0.4]], [[1.0, 0.0]], [[0.2, 1.0]]])  # (C, H, W)
    for source in (image, Image.fromarray(image)):
        x = ToTensor()(source)
        assert x.dtype == torch.float32 and x.shape == (3, 1, 2) and x.is_contiguous()
        torch.testing.assert_close(x, expected)


def test_to_tensor_grey_batch_and_tensors():
    grey = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    torch.testing.assert_close(ToTensor()(grey), torch.tensor([[[0.0, 1.0], [0.2, 0.4]]]))
    torch.testing.assert_close(ToTensor()(Image.fromarray(grey)), torch.tensor([[[0.0, 1.0], [0.2, 0.4]]]))
    batch = np.zeros((4, 2, 3, 3), np.uint8)
    batch[2, 1, 0] = (255, 0, 51)  # image 2, row 1, column 0
    x = ToTensor()(batch)
    assert x.shape == (4, 3, 2, 3)
    torch.testing.assert_close(x[2, :, 1, 0], torch.tensor([1.0, 0.0, 0.2]))
    assert x.sum().item() == pytest.approx(1.2)
    torch.testing.assert_close(ToTensor()(torch.tensor([[[255, 51]]], dtype=torch.uint8)), torch.tensor([[[1.0, 0.2]]]))
    already = torch.rand(3, 4, 4)
    assert ToTensor()(already) is already


@pytest.mark.parametrize("bad, error", [
    (np.zeros((2, 2, 3), np.float32), TypeError),
    (torch.zeros(3, 2, 2, dtype=torch.int64), TypeError),
    ([[0, 1]], TypeError),
    (np.zeros((2,), np.uint8), ValueError),
])
def test_to_tensor_rejects_what_it_cannot_read(bad, error):
    with pytest.raises(error):
        ToTensor()(bad)


def test_to_tensor_converts_other_pil_modes_to_rgb():
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    torch.testing.assert_close(ToTensor()(palette), torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]], [[0.0, 0.0]]]))


def test_normalize_per_channel():
    x = torch.full((2, 3, 2, 2), 0.5)
    out = Normalize((0.5, 0.25, 0.0), (0.5, 0.25, 2.0))(x)
    assert out.shape == (2, 3, 2, 2)
    torch.testing.assert_close(out[:, 0], torch.zeros(2, 2, 2))
    torch.testing.assert_close(out[:, 1], torch.ones(2, 2, 2))
    torch.testing.assert_close(out[:, 2], torch.full((2, 2, 2), 0.25))
    assert x.eq(0.5).all()  # the input is left alone
    double = Normalize((1.0,), (4.0,))(torch.zeros(1, 1, 1, dtype=torch.float64))
    assert double.dtype == torch.float64 and double.item() == -0.25


def test_normalize_errors():
    with pytest.raises(ValueError, match="nonzero"):
        Normalize((0.0,), (0.0,))
    with pytest.raises(ValueError, match="3 values but std has 2"):
        Normalize((0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 3, H, W\)"):
        Normalize((0, 0, 0), (1, 1, 1))(torch.zeros(1, 4, 4))
    with pytest.raises(TypeError, match="ToTensor"):
        Normalize((0, 0, 0), (1, 1, 1))(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_compose_applies_in_order_and_prints_its_steps():
    pipeline = Compose([ToTensor(), Normalize((0.5,), (0.5,))])
    grey = np.array([[0, 255]], dtype=np.uint8)
    torch.testing.assert_close(pipeline(grey), torch.tensor([[[-1.0, 1.0]]]))
    assert repr(pipeline) == "Compose(transforms=[ToTensor(), Normalize(mean=(0.5,), std=(0.5,))])"
    assert repr(RandomHorizontalFlip(0.3, generator=seeded())) == "RandomHorizontalFlip(p=0.3)"


# --------------------------------------------------------------------------------------------
# Geometry


def test_resize_bilinear_upsampling_by_hand():
    """Pixel centres aligned: output column j samples input column (j + 0.5) / 2 - 0.5, clamped:
    0, 0.25, 0.75, 1; the 2x2 image [[0, 1], [2, 3]] is 2·row + column, so the result is too."""
    x = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    steps = torch.tensor([0.0, 0.25, 0.75, 1.0])
    torch.testing.assert_close(resize(x, (4, 4)), (2 * steps[:, None] + steps[None, :])[None])


def test_resize_antialiased_shrink_by_hand():
    """Shrinking 4 -> 2 stretches the triangle filter to half-width 2: output 0 (centre at input
    position 0.5) weighs inputs 0, 1, 2 by 0.75, 0.75, 0.25 (normalised); output 1 mirrors it."""
    x = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]])
    expected = torch.tensor([[[1.25 / 1.75, 3 - 1.25 / 1.75]]])
    torch.testing.assert_close(resize(x, (1, 2)), expected)
    assert resize(x, (1, 2), antialias=False).tolist() == [[[0.5, 2.5]]]  # plain bilinear: midpoints


def test_resize_agrees_with_pillow_on_uint8_images():
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for height, width in ((17, 20), (70, 90)):
        ours = Resize((height, width))(image)
        assert ours.dtype == torch.uint8 and ours.shape == (3, height, width)
        theirs = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))
        assert np.abs(ours.permute(1, 2, 0).numpy().astype(int) - theirs).max() <= 1


def test_resize_int_sets_the_shorter_side():
    assert Resize(4)(torch.zeros(3, 8, 12)).shape == (3, 4, 6)
    assert Resize(4)(torch.zeros(2, 3, 13, 8)).shape == (2, 3, 6, 4)  # 4 * 13 / 8 = 6.5, rounded down
    assert Resize((5, 7))(torch.zeros(1, 8, 12)).shape == (1, 5, 7)
    assert Resize(2, interpolation="nearest")(torch.arange(16.0).view(1, 4, 4)).tolist() == [[[0.0, 2.0], [8.0, 10.0]]]
    with pytest.raises(ValueError, match="interpolation"):
        Resize(2, interpolation="area")(torch.zeros(1, 4, 4))


def test_center_crop_by_hand():
    x = torch.arange(25).view(1, 5, 5)
    assert CenterCrop(3)(x).tolist() == [[[6, 7, 8], [11, 12, 13], [16, 17, 18]]]
    # (4 - 1) / 2 = 1.5 rounds to 2 (halves to even), (4 - 2) / 2 = 1
    assert CenterCrop((1, 2))(torch.arange(16).view(1, 4, 4)).tolist() == [[[9, 10]]]
    with pytest.raises(ValueError, match="at least that large"):
        CenterCrop(6)(x)


def test_random_crop_windows_of_the_zero_padded_image():
    x = torch.tensor([[[1, 2], [3, 4]]], dtype=torch.uint8)
    padded = torch.tensor([[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0]], dtype=torch.uint8)
    crop, draws = RandomCrop(2, padding=1, generator=seeded(5)), seeded(5)
    seen = {}
    for _ in range(400):
        out = crop(x)
        top, left = (torch.randint(3, (1,), generator=draws).item() for _ in range(2))
        assert torch.equal(out[0], padded[top : top + 2, left : left + 2])
        seen[(top, left)] = seen.get((top, left), 0) + 1
    assert len(seen) == 9 and min(seen.values()) > 20  # all nine positions, roughly uniformly


def test_random_crop_without_padding_and_errors():
    x = torch.arange(12).view(1, 3, 4)
    out = RandomCrop((3, 4))(x)
    assert torch.equal(out, x)
    with pytest.raises(ValueError, match="does not fit"):
        RandomCrop(5)(x)
    with pytest.raises(ValueError, match="padding"):
        RandomCrop(2, padding=-1)


def test_horizontal_flip_probabilities():
    x = torch.tensor([[[1, 2, 3]]])
    assert RandomHorizontalFlip(p=1.0)(x).tolist() == [[[3, 2, 1]]]
    assert RandomHorizontalFlip(p=0.0)(x).tolist() == [[[1, 2, 3]]]
    flip = RandomHorizontalFlip(generator=seeded(1))
    flipped = sum(flip(x)[0, 0, 0].item() == 3 for _ in range(1000))
    assert 430 < flipped < 570


def test_random_resized_crop_windows_respect_scale_and_ratio():
    crop = RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0), generator=seeded(2))
    for _ in range(300):
        top, left, h, w = crop.window(40, 60)
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 60
        # the drawn area and ratio hold before rounding h and w to whole pixels
        assert 0.2 * 2400 * 0.85 <= h * w <= 0.6 * 2400 * 1.15
        assert 0.5 * 0.85 <= w / h <= 2.0 * 1.15


def test_random_resized_crop_falls_back_to_the_central_window():
    """A 100x10 image has no window of ratio >= 1 and area >= 90% of the image: after ten tries the
    central window of full width and height round(10 / 1) = 10 is used."""
    crop = RandomResizedCrop(4, scale=(0.9, 1.0), ratio=(1.0, 1.0), generator=seeded())
    assert crop.window(100, 10) == (45, 0, 10, 10)
    assert crop.window(10, 100) == (0, 45, 10, 10)
    x = torch.arange(100.0).view(1, 10, 10)
    whole = RandomResizedCrop(10, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert whole.window(10, 10) == (0, 0, 10, 10) and torch.equal(whole(x), x)
    assert RandomResizedCrop((4, 6))(torch.zeros(2, 3, 20, 20)).shape == (2, 3, 4, 6)


# --------------------------------------------------------------------------------------------
# Colour


def test_brightness_contrast_and_saturation_by_hand():
    x = torch.tensor([[[0.2, 0.6]], [[0.4, 0.4]], [[0.0, 0.8]]])  # two pixels (3, 1, 2)
    torch.testing.assert_close(ColorJitter(brightness=(2, 2))(x), torch.tensor([[[0.4, 1.0]], [[0.8, 0.8]], [[0.0, 1.0]]]))
    grey = torch.tensor([0.299 * 0.2 + 0.587 * 0.4, 0.299 * 0.6 + 0.587 * 0.4 + 0.114 * 0.8])  # 0.2946, 0.5052
    torch.testing.assert_close(ColorJitter(contrast=(0, 0))(x), torch.full((3, 1, 2), grey.mean().item()))
    torch.testing.assert_close(ColorJitter(saturation=(0, 0))(x), grey.view(1, 1, 2).expand(3, 1, 2))
    half = ColorJitter(contrast=(0.5, 0.5))(x)
    torch.testing.assert_close(half, 0.5 * x + 0.5 * grey.mean())


def test_hue_rotation_by_hand():
    torch.testing.assert_close(ColorJitter(hue=(1 / 3, 1 / 3))(pixel(1, 0, 0)), pixel(0, 1, 0))
    torch.testing.assert_close(ColorJitter(hue=(-1 / 3, -1 / 3))(pixel(1, 0, 0)), pixel(0, 0, 1))
    torch.testing.assert_close(ColorJitter(hue=(0.5, 0.5))(pixel(1, 0, 0)), pixel(0, 1, 1))
    torch.testing.assert_close(ColorJitter(hue=(0.5, 0.5))(pixel(0.5, 0.5, 0.5)), pixel(0.5, 0.5, 0.5))  # greys stay


def test_hsv_by_hand_and_round_trip():
    hsv = rgb_to_hsv(torch.stack([pixel(1, 0.5, 0), pixel(0, 0, 0), pixel(0.2, 0.4, 0.4)]))
    torch.testing.assert_close(hsv[:, :, 0, 0], torch.tensor([[1 / 12, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.4]]))
    x = torch.rand(4, 3, 5, 5, generator=seeded(3))
    torch.testing.assert_close(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-6, rtol=0)


def test_uint8_images_are_rounded_and_stay_uint8():
    image = np.array([[[100, 10, 200]]], dtype=np.uint8)
    out = ColorJitter(brightness=(1.5, 1.5))(image)
    assert out.dtype == torch.uint8 and out.tolist() == [[[150]], [[15]], [[255]]]
    grey = RandomGrayscale(p=1.0)(image)
    value = round(0.299 * 100 + 0.587 * 10 + 0.114 * 200)  # 58.57 -> 59
    assert grey.dtype == torch.uint8 and grey.flatten().tolist() == [value] * 3


def test_color_jitter_draws_factors_from_its_ranges():
    jitter = ColorJitter(brightness=0.5, generator=seeded(4))
    assert jitter.brightness == (0.5, 1.5) and jitter.contrast is None and jitter.hue is None
    factors = [jitter(pixel(0.5, 0.5, 0.5))[0, 0, 0].item() / 0.5 for _ in range(500)]
    assert 0.5 <= min(factors) < 0.55 and 1.45 < max(factors) <= 1.5
    assert ColorJitter(0.4, 0.4, 0.4, 0.1).saturation == pytest.approx((0.6, 1.4))
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="brightness"):
        ColorJitter(brightness=-1)


def test_grayscale_and_apply_probabilities():
    red = pixel(1, 0, 0)
    torch.testing.assert_close(RandomGrayscale(p=1.0)(red), pixel(0.299, 0.299, 0.299))
    assert torch.equal(RandomGrayscale(p=0.0)(red), red)
    grey_one_channel = torch.full((1, 2, 2), 0.3)
    assert torch.equal(RandomGrayscale(p=1.0)(grey_one_channel), grey_one_channel)
    greyed = RandomGrayscale(p=0.2, generator=seeded(6))
    assert 150 < sum(greyed(red)[1].item() > 0 for _ in range(1000)) < 250
    double = RandomApply([lambda x: 2 * x], p=0.8, generator=seeded(7))
    assert 750 < sum(double(red)[0].item() == 2 for _ in range(1000)) < 850
    assert RandomApply([lambda x: 2 * x], p=0.0)(red) is red


# --------------------------------------------------------------------------------------------
# Randomness


def simclr_like(generator: torch.Generator | None) -> Compose:
    return Compose([
        RandomResizedCrop(16, generator=generator),
        RandomHorizontalFlip(generator=generator),
        RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1, generator=generator)], p=0.8, generator=generator),
        RandomGrayscale(p=0.2, generator=generator),
        ToTensor(),
        Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    ])


def test_a_seeded_generator_repeats_and_ignores_the_global_stream():
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    torch.manual_seed(123)
    first = [simclr_like(seeded(0))(image) for _ in range(3)]
    torch.manual_seed(456)
    again = [simclr_like(seeded(0))(image) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    pipeline = simclr_like(seeded(0))
    views = [pipeline(image) for _ in range(3)]
    assert torch.equal(views[0], first[0]) and not torch.equal(views[0], views[1])
    assert views[0].shape == (3, 16, 16) and views[0].dtype == torch.float32
    assert not torch.equal(simclr_like(seeded(1))(image), first[0])


def test_the_global_generator_is_used_without_one():
    image = torch.rand(3, 20, 20, generator=seeded(8))
    torch.manual_seed(9)
    first = simclr_like(None)(image)
    torch.manual_seed(9)
    assert torch.equal(simclr_like(None)(image), first)


def test_geometry_on_a_batch_moves_every_image_alike():
    batch = torch.rand(5, 3, 12, 12, generator=seeded(10))
    out = RandomCrop(8, padding=2, generator=seeded(11))(batch)
    draws = seeded(11)
    top, left = (torch.randint(16 - 8 + 1, (1,), generator=draws).item() for _ in range(2))
    padded = torch.nn.functional.pad(batch, (2, 2, 2, 2))
    assert out.shape == (5, 3, 8, 8) and torch.equal(out, padded[..., top : top + 8, left : left + 8])
