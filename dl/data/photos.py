"""The two colour photographs of the convolution aside in ConvolutionalNetworks.

They are the sample images that scikit-learn installs with its package
(``sklearn.datasets.load_sample_images()``: ``china.jpg``, a temple, and ``flower.jpg``, a
flower), so nothing is downloaded. Both are 427 x 640 JPEGs that photographers published on
Flickr. scikit-learn's ``sklearn/datasets/images/README.txt`` (also shown as
``load_sample_images().DESCR``) says each was "Released under a creative commons license" and
links that licence to https://creativecommons.org/licenses/by/2.0/, which is the Creative Commons
Attribution 2.0 Generic licence (CC BY 2.0). The same file gives the attribution and the source page
of each photograph; anything that redistributes the images or figures derived from them must
keep that attribution.
"""
from __future__ import annotations

import operator

import numpy as np


def course_photos(size: int = 200) -> np.ndarray:
    """The two photographs, each centre-cropped to a square and resized to ``size`` x ``size``.

    The crop keeps the middle ``min(H, W)`` columns (or rows) of each photo; the resize uses
    Pillow's Lanczos filter. Deterministic: the same size always gives the same array.

    Inputs:
    - size: side of the returned images in pixels, an integer >= 1.

    Returns:
    - photos: float64 array of shape (2, 3, size, size), channels R, G, B, values in 0..255
      (whole numbers); photo 0 is ``china.jpg``, photo 1 ``flower.jpg``.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images  # bundled with scikit-learn: no download

    try:
        size = operator.index(size)
    except TypeError:
        raise ValueError(f"size must be an integer, got {size!r}") from None
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")

    photos = []
    for image in load_sample_images().images:  # uint8 (H, W, 3)
        H, W, _ = image.shape
        side = min(H, W)
        top, left = (H - side) // 2, (W - side) // 2
        square = Image.fromarray(image[top : top + side, left : left + side])
        resized = square.resize((size, size), Image.Resampling.LANCZOS)
        photos.append(np.asarray(resized, dtype=np.float64).transpose(2, 0, 1))  # (3, size, size)
    return np.stack(photos)
