"""visualize_grid: layout, per-image rescaling and padding."""
import numpy as np

from dl.vis import visualize_grid


def test_grid_layout_and_rescaling():
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((5, 3, 4, 2))  # N, H, W, C: a 3 x 3 grid with 4 empty cells
    grid = visualize_grid(Xs, ubound=255.0, padding=1)
    assert grid.shape == (3 * 3 + 2, 3 * 4 + 2, 2)
    for index, image in enumerate(Xs):
        row, col = divmod(index, 3)
        tile = grid[row * 4:row * 4 + 3, col * 5:col * 5 + 4]
        np.testing.assert_allclose(tile, 255.0 * (image - image.min()) / (image.max() - image.min()))
        assert tile.min() == 0.0 and tile.max() == 255.0
    assert not grid[3].any() and not grid[:, 4].any()  # padding rows and columns stay 0
    assert not grid[8:, 5:].any()  # unused cells stay 0


def test_constant_image_and_custom_bound():
    Xs = np.stack([np.full((2, 2, 1), 7.0), np.arange(4.0).reshape(2, 2, 1)])
    grid = visualize_grid(Xs, ubound=1.0, padding=0)
    assert grid.shape == (4, 4, 1)
    assert not grid[:2, :2].any()
    np.testing.assert_allclose(grid[:2, 2:, 0], [[0, 1 / 3], [2 / 3, 1]])
