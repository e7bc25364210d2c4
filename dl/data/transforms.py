"""Image transforms written with torch tensor operations (torchvision is not available).

The names and semantics follow the transforms that PyTorch code usually imports from
``torchvision.transforms``, so that the usual recipes read the same::

    Compose([ToTensor(), Normalize((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))])

Images:

- An *image* is a PIL image, a numpy uint8 array (H, W, C) or (H, W) — the layout of image files —
  or a torch tensor (C, H, W), optionally with leading batch dimensions (..., C, H, W) — the
  layout of torch. :class:`ToTensor` turns any of them into float32 (..., C, H, W) in [0, 1].
- Every other transform returns a tensor of its input's dtype; a PIL image or numpy array is first
  turned into a uint8 tensor (C, H, W) without scaling. uint8 results are rounded to the nearest
  integer; the colour transforms clamp float results to [0, 1], so apply them before
  :class:`Normalize`.
- A geometric transform given a batch (..., C, H, W) treats every image of it the same way (one
  random draw per call).

Randomness: every random transform takes an optional ``generator`` (a ``torch.Generator``) and
draws from it, or from torch's global generator (seeded by :func:`dl.utils.reset_seed`) when it
is None. A ``DataLoader`` with worker processes gives each worker a *copy* of a generator held by a
transform, so workers would repeat each other's draws: use ``num_workers=0`` with generators, or
the global generator, which PyTorch seeds differently in every worker.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# ITU-R BT.601 luma weights of R, G and B: how bright each primary looks (grey = weighted sum).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")

ImageLike = Any  # a PIL image, a numpy uint8 array (H, W[, C]) or a tensor (..., C, H, W)


def as_image_tensor(image: ImageLike) -> torch.Tensor:
    """``image`` as a tensor (..., C, H, W): tensors are returned as they are, PIL images and numpy
    uint8 arrays (H, W), (H, W, C) become uint8 (C, H, W) tensors with the same values.

    PIL images in a mode other than ``L`` (grey) or ``RGB`` are converted to ``RGB`` first.
    """
    if isinstance(image, torch.Tensor):
        if image.ndim < 3:
            raise ValueError(f"an image tensor must have shape (..., C, H, W); got shape {tuple(image.shape)}")
        return image
    array = _pil_or_numpy_array(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"a numpy image must have shape (H, W) or (H, W, C); got shape {array.shape}")
    return torch.from_numpy(np.array(array.transpose(2, 0, 1), order="C"))  # a copy: the input may be read-only


def _pil_or_numpy_array(image: ImageLike) -> np.ndarray:
    """The uint8 array of a PIL image or numpy array; TypeError for anything else."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"a numpy image must be uint8 (0..255); got {image.dtype}. "
                            "Convert floats to a tensor yourself: torch.from_numpy(x).permute(2, 0, 1)")
        return image
    if hasattr(image, "mode") and hasattr(image, "convert"):  # a PIL image (PIL is imported only if used)
        return np.asarray(image if image.mode in ("L", "RGB") else image.convert("RGB"))
    raise TypeError(f"expected a PIL image, a numpy uint8 array or a torch tensor; got {type(image).__name__}")


def _apply_in_float(image: ImageLike, function: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``function`` applied to ``image`` as floats in [0, 1]; a uint8 image comes back as uint8 (rounded)."""
    x = as_image_tensor(image)
    if x.dtype == torch.uint8:
        y = function(x.float() / 255)
        return (y * 255).round_().clamp_(0, 255).to(torch.uint8)
    if not x.is_floating_point():
        raise TypeError(f"image tensors must be uint8 or floating point; got {x.dtype}")
    return function(x)


def _pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    """``size`` as (height, width): an int means a square."""
    if isinstance(size, numbers.Integral):
        pair = (int(size), int(size))
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, numbers.Integral) for s in size):
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints (height, width); got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive; got {size!r}")
    return pair


def _uniform(low: float, high: float, generator: torch.Generator | None) -> float:
    """One number drawn uniformly from [low, high)."""
    return low + (high - low) * torch.rand(1, generator=generator).item()


def _randint(high: int, generator: torch.Generator | None) -> int:
    """One integer drawn uniformly from 0..high-1."""
    return int(torch.randint(high, (1,), generator=generator).item())


def _happens(p: float, generator: torch.Generator | None) -> bool:
    """True with probability ``p`` (one draw, also when p is 0 or 1, so the stream does not depend on p)."""
    return torch.rand(1, generator=generator).item() < p


class Transform:
    """Base class: a callable image -> tensor whose ``repr`` lists its settings (not its generator
    nor private attributes)."""

    def __call__(self, image: ImageLike) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator" and not k.startswith("_"))
        return f"{type(self).__name__}({settings})"


class Compose(Transform):
    """Apply ``transforms`` one after the other: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, image: ImageLike):
        for transform in self.transforms:
            image = transform(image)
        return image


class ToTensor(Transform):
    """Image -> float32 tensor (..., C, H, W) with values in [0, 1].

    - PIL image or numpy uint8 array (H, W), (H, W, C) or a batch (N, H, W, C): moved to channels
      first and divided by 255; (H, W) becomes (1, H, W).
    - uint8 tensor (..., C, H, W): divided by 255.
    - floating-point tensor: returned unchanged (it is taken to be converted already).
    """

    def __call__(self, image: ImageLike) -> torch.Tensor:
        if isinstance(image, torch.Tensor):
            if image.is_floating_point():
                return image
            if image.dtype != torch.uint8:
                raise TypeError(f"ToTensor takes uint8 or floating-point tensors; got {image.dtype}")
            return as_image_tensor(image).float().div_(255)
        array = _pil_or_numpy_array(image)
        if array.ndim == 4:
            return torch.from_numpy(np.array(array.transpose(0, 3, 1, 2), order="C")).float().div_(255)
        return as_image_tensor(array).float().div_(255)


class Normalize(Transform):
    """Per-channel standardisation of a float tensor (..., C, H, W): ``(x[c] - mean[c]) / std[c]``.

    ``mean`` and ``std`` are sequences of C numbers (std nonzero). Returns a new tensor.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}")
        if any(s == 0 for s in self.std):
            raise ValueError(f"std must be nonzero in every channel; got {self.std}")
        self._mean = torch.tensor(self.mean).view(-1, 1, 1)  # made once: a loader normalises every image
        self._std = torch.tensor(self.std).view(-1, 1, 1)

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            found = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise TypeError(f"Normalize takes a float tensor (..., C, H, W); got {found}. Put ToTensor() before it")
        if tensor.ndim < 3 or tensor.shape[-3] != len(self.mean):
            raise ValueError(f"Normalize has {len(self.mean)} channels; the tensor has shape {tuple(tensor.shape)} "
                             f"(expected (..., {len(self.mean)}, H, W))")
        mean = self._mean.to(tensor.device, tensor.dtype)  # the same tensor when already so: no copy
        std = self._std.to(tensor.device, tensor.dtype)
        return tensor.sub(mean).div_(std)


# --------------------------------------------------------------------------------------------
# Geometry


def resize(image: ImageLike, size: tuple[int, int], interpolation: str = "bilinear", antialias: bool = True) -> torch.Tensor:
    """``image`` resampled to ``size`` = (height, width): tensor (..., C, height, width).

    ``interpolation`` is ``"bilinear"``, ``"bicubic"`` or ``"nearest"``; pixel centres are aligned
    (``align_corners=False``). ``antialias`` low-pass filters when shrinking (bilinear and bicubic),
    as image libraries do, so that a shrunk image does not alias.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}; got {interpolation!r}")

    def resample(x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x.clone()
        flat = x.reshape(-1, *x.shape[-3:])  # interpolate wants (N, C, H, W)
        smooth = antialias and interpolation != "nearest"
        out = F.interpolate(flat, size=size, mode=interpolation, antialias=smooth,
                            **({} if interpolation == "nearest" else {"align_corners": False}))
        return out.reshape(*x.shape[:-2], *size)

    return _apply_in_float(image, resample)


def crop(image: ImageLike, top: int, left: int, height: int, width: int) -> torch.Tensor:
    """The window of ``image`` with its top-left corner at (``top``, ``left``): (..., C, height, width)."""
    x = as_image_tensor(image)
    H, W = x.shape[-2:]
    if top < 0 or left < 0 or top + height > H or left + width > W:
        raise ValueError(f"the crop {height}x{width} at ({top}, {left}) does not fit in an image of size {H}x{W}")
    return x[..., top : top + height, left : left + width]


class Resize(Transform):
    """Resize to ``size``: an int sets the *shorter* side (the other keeps the aspect ratio, rounded
    down), a pair (height, width) sets both. Output (..., C, new_H, new_W); see :func:`resize`."""

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear", antialias: bool = True):
        if isinstance(size, numbers.Integral) and size < 1:
            raise ValueError(f"size must be positive; got {size}")
        self.size = int(size) if isinstance(size, numbers.Integral) else _pair(size, "size")
        self.interpolation, self.antialias = interpolation, antialias

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(new_H, new_W) for an image of ``height`` x ``width``."""
        if not isinstance(self.size, numbers.Integral):
            return self.size
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        return resize(x, self.output_size(*x.shape[-2:]), self.interpolation, self.antialias)


class CenterCrop(Transform):
    """The central ``size`` window (int: square; or (height, width)) of an image at least that large.

    The window starts ``round((H - height) / 2)`` rows from the top (Python's ``round``, which rounds
    halves to even) and likewise from the left. Output (..., C, height, width).
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = _pair(size, "size")

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        (H, W), (h, w) = x.shape[-2:], self.size
        if h > H or w > W:
            raise ValueError(f"CenterCrop({h}, {w}) needs an image at least that large; got {H}x{W}. Resize first")
        return crop(x, int(round((H - h) / 2)), int(round((W - w) / 2)), h, w)


class RandomCrop(Transform):
    """A ``size`` window (int: square; or (height, width)) at a uniformly random position, after
    ``padding`` zero pixels are added on every side (0: none).

    The top row is drawn from 0..H+2·padding-height, then the left column likewise. Output
    (..., C, height, width). ``RandomCrop(32, padding=4)`` is the usual CIFAR-10 augmentation.
    """

    def __init__(self, size: int | Sequence[int], padding: int = 0, generator: torch.Generator | None = None):
        self.size = _pair(size, "size")
        if not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"padding must be an int >= 0; got {padding!r}")
        self.padding, self.generator = int(padding), generator

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        if self.padding:
            p = self.padding
            x = F.pad(x, (p, p, p, p))  # (left, right, top, bottom) of the last two dimensions
        (H, W), (h, w) = x.shape[-2:], self.size
        if h > H or w > W:
            raise ValueError(f"RandomCrop({h}, {w}) does not fit in a padded image of size {H}x{W}")
        top = _randint(H - h + 1, self.generator)
        left = _randint(W - w + 1, self.generator)
        return crop(x, top, left, h, w)


class RandomHorizontalFlip(Transform):
    """Mirror left-right (reverse the W axis) with probability ``p``; otherwise return the image
    as a tensor unchanged."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None):
        self.p, self.generator = p, generator

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        return x.flip(-1) if _happens(self.p, self.generator) else x


class RandomResizedCrop(Transform):
    """A random window covering a random fraction of the image with a random aspect ratio, resized
    to ``size`` (int: square; or (height, width)). The crop of Inception training ("Going deeper with
    convolutions", Szegedy et al., 2014, arXiv:1409.4842), used by SimCLR.

    :meth:`window` draws the window: up to 10 tries of an area fraction uniform in ``scale`` and an
    aspect ratio (width / height) log-uniform in ``ratio``; the first try that fits lies at a
    uniformly random position. If none fits, the central window of the whole image clipped to the
    nearest allowed ratio. Output (..., C, height, width); see :func:`resize` for the rest.
    """

    def __init__(self, size: int | Sequence[int], scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), interpolation: str = "bilinear",
                 antialias: bool = True, generator: torch.Generator | None = None):
        self.size = _pair(size, "size")
        if not (0 < scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"need 0 < scale[0] <= scale[1] <= 1 and 0 < ratio[0] <= ratio[1]; got {scale}, {ratio}")
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation, self.antialias, self.generator = interpolation, antialias, generator

    def window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, h, w) of a random window in an image of ``height`` x ``width``."""
        area = height * width
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target_area = area * _uniform(*self.scale, self.generator)
            aspect = math.exp(_uniform(log_low, log_high, self.generator))
            w = round(math.sqrt(target_area * aspect))
            h = round(math.sqrt(target_area / aspect))
            if 0 < w <= width and 0 < h <= height:
                return _randint(height - h + 1, self.generator), _randint(width - w + 1, self.generator), h, w
        aspect = width / height
        if aspect < self.ratio[0]:  # too tall: full width, height cut to the narrowest allowed shape
            w, h = width, round(width / self.ratio[0])
        elif aspect > self.ratio[1]:  # too wide: full height
            w, h = round(height * self.ratio[1]), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        top, left, h, w = self.window(*x.shape[-2:])
        return resize(crop(x, top, left, h, w), self.size, self.interpolation, self.antialias)


# --------------------------------------------------------------------------------------------
# Colour (images in [0, 1]; uint8 images are scaled there and back)


def rgb_to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma of a float RGB tensor (..., 3, H, W): (..., 1, H, W) = 0.299 R + 0.587 G + 0.114 B."""
    r, g, b = x.unbind(-3)
    return (LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b).unsqueeze(-3)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """Float RGB (..., 3, H, W) in [0, 1] -> HSV (..., 3, H, W), each in [0, 1] (hue in turns;
    0 for greys)."""
    r, g, b = x.unbind(-3)
    value, _ = x.max(dim=-3)
    chroma = value - x.min(dim=-3).values
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, 1), 0)
    c = torch.where(chroma > 0, chroma, 1)  # avoids 0/0; those pixels get hue 0 below
    hue = torch.where(value == r, ((g - b) / c) % 6, torch.where(value == g, (b - r) / c + 2, (r - g) / c + 4))
    hue = torch.where(chroma > 0, hue / 6, 0)
    return torch.stack([hue, saturation, value], dim=-3)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """HSV (..., 3, H, W) as made by :func:`rgb_to_hsv` -> RGB (..., 3, H, W) in [0, 1].

    Channel n of (R, G, B) = V - V·S·clamp(min(k, 4 - k), 0, 1) with k = (n + 6·H) mod 6 for
    n = 5, 3, 1: a piecewise-linear form of the hexagonal colour model.
    """
    hue, saturation, value = x.unbind(-3)
    channels = []
    for n in (5, 3, 1):
        k = (n + 6 * hue) % 6
        channels.append(value - value * saturation * torch.minimum(k, 4 - k).clamp(0, 1))
    return torch.stack(channels, dim=-3)


def adjust_brightness(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Float image times ``factor`` (0: black, 1: unchanged), clamped to [0, 1]."""
    return (x * factor).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend a float image with the mean of its grey image: ``factor·x + (1 - factor)·mean``
    (0: uniform grey, 1: unchanged), clamped to [0, 1]. The mean is per image over (H, W)."""
    grey = rgb_to_grayscale(x) if x.shape[-3] == 3 else x
    mean = grey.mean(dim=(-3, -2, -1), keepdim=True)
    return (factor * x + (1 - factor) * mean).clamp(0, 1)


def adjust_saturation(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend a float RGB image with its grey image: ``factor·x + (1 - factor)·grey`` (0: grey,
    1: unchanged), clamped to [0, 1]. Single-channel images are returned unchanged."""
    if x.shape[-3] != 3:
        return x
    return (factor * x + (1 - factor) * rgb_to_grayscale(x)).clamp(0, 1)


def adjust_hue(x: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue of a float RGB image by ``shift`` turns (in [-0.5, 0.5]; 1/3 takes red to green).
    Single-channel images are returned unchanged."""
    if x.shape[-3] != 3:
        return x
    hsv = rgb_to_hsv(x)
    hue = (hsv[..., 0:1, :, :] + shift) % 1.0
    return hsv_to_rgb(torch.cat([hue, hsv[..., 1:, :, :]], dim=-3)).clamp(0, 1)


def _jitter_range(value: float | Sequence[float], name: str, centre: float, bounds: tuple[float, float]):
    """(low, high) for a ColorJitter setting: a number v means [centre - v, centre + v], its low end
    raised to ``bounds[0]`` for the factors (a factor cannot be negative); a pair is used as it is;
    None when the setting changes nothing. ValueError for a range outside ``bounds``."""
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"{name} must be >= 0; got {value}")
        low, high = centre - value, centre + value
        if centre == 1.0:
            low = max(bounds[0], low)
    elif isinstance(value, Sequence) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
    else:
        raise ValueError(f"{name} must be a number or a pair (low, high); got {value!r}")
    if not bounds[0] <= low <= high <= bounds[1]:
        raise ValueError(f"{name} range must lie in {list(bounds)} with low <= high; got ({low}, {high})")
    return None if low == high == centre else (low, high)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    ``brightness``, ``contrast`` and ``saturation``: a number v draws the factor uniformly from
    [max(0, 1 - v), 1 + v]; a pair (low, high) gives the range. ``hue``: a number v in [0, 0.5]
    draws the shift from [-v, v] turns; a pair gives the range (within [-0.5, 0.5]). Each call
    draws a random order of the four changes (a permutation), then the enabled factors in the order
    brightness, contrast, saturation, hue. Works on RGB images; see :func:`adjust_brightness` and the
    other ``adjust_*`` functions for each change.
    """

    def __init__(self, brightness: float | Sequence[float] = 0, contrast: float | Sequence[float] = 0,
                 saturation: float | Sequence[float] = 0, hue: float | Sequence[float] = 0,
                 generator: torch.Generator | None = None):
        unbounded = (0.0, math.inf)
        self.brightness = _jitter_range(brightness, "brightness", 1.0, unbounded)
        self.contrast = _jitter_range(contrast, "contrast", 1.0, unbounded)
        self.saturation = _jitter_range(saturation, "saturation", 1.0, unbounded)
        self.hue = _jitter_range(hue, "hue", 0.0, (-0.5, 0.5))
        self.generator = generator

    def __call__(self, image: ImageLike) -> torch.Tensor:
        order = torch.randperm(4, generator=self.generator).tolist()
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        factors = [None if r is None else _uniform(*r, self.generator) for r in ranges]
        changes = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)

        def jitter(x: torch.Tensor) -> torch.Tensor:
            for i in order:
                if factors[i] is not None:
                    x = changes[i](x, factors[i])
            return x

        return _apply_in_float(image, jitter)


class RandomGrayscale(Transform):
    """With probability ``p``, replace an RGB image by its grey image repeated in all three channels
    (:func:`rgb_to_grayscale`); otherwise, and for single-channel images, return it unchanged."""

    def __init__(self, p: float = 0.1, generator: torch.Generator | None = None):
        self.p, self.generator = p, generator

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        if not _happens(self.p, self.generator) or x.shape[-3] != 3:
            return x
        return _apply_in_float(x, lambda rgb: rgb_to_grayscale(rgb).expand_as(rgb).clone())


class RandomApply(Transform):
    """Apply ``transforms`` in order with probability ``p``; otherwise return the image as a tensor
    unchanged. ``RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)`` is SimCLR's colour step."""

    def __init__(self, transforms: Sequence[Callable], p: float = 0.5, generator: torch.Generator | None = None):
        self.transforms, self.p, self.generator = list(transforms), p, generator

    def __call__(self, image: ImageLike) -> torch.Tensor:
        x = as_image_tensor(image)
        if _happens(self.p, self.generator):
            for transform in self.transforms:
                x = transform(x)
        return x
