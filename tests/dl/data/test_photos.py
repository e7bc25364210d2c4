"""course_photos: the two bundled photographs as a (2, 3, size, size) float array, no download."""
import numpy as np
import pytest

from dl.data import course_photos


def test_shape_dtype_and_range():
    photos = course_photos()
    assert photos.shape == (2, 3, 200, 200)
    assert photos.dtype == np.float64
    assert photos.min() >= 0.0 and photos.max() <= 255.0
    np.testing.assert_array_equal(photos, np.rint(photos))  # whole numbers, as read from uint8
    assert not np.array_equal(photos[0], photos[1])
    assert photos.std(axis=(2, 3)).min() > 10  # real pictures in every channel, not blanks


def test_deterministic_and_sized():
    np.testing.assert_array_equal(course_photos(32), course_photos(32))
    assert course_photos(size=17).shape == (2, 3, 17, 17)


def test_centre_crop_keeps_the_middle():
    """At full resolution the crop is exactly the middle square of each photo."""
    from sklearn.datasets import load_sample_images

    image = load_sample_images().images[0]  # (H, W, 3), wider than tall
    H, W, _ = image.shape
    left = (W - H) // 2
    np.testing.assert_array_equal(course_photos(H)[0], image[:, left:left + H].transpose(2, 0, 1))


@pytest.mark.parametrize("size", [0, -3, 2.5])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size must be"):
        course_photos(size)
