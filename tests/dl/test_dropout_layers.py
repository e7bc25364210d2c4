"""Inverted dropout: mask statistics, the seed convention, test-mode identity, backward."""
import numpy as np
import pytest

from dl.gradcheck import eval_numerical_gradient_array, rel_error
from dl.layers import dropout_backward, dropout_forward


@pytest.mark.parametrize("p", [0.25, 0.5, 0.9])
def test_train_mode_keeps_fraction_p_and_preserves_the_mean(p):
    np.random.seed(0)
    x = np.random.randn(400, 500) + 10
    out, (param, mask) = dropout_forward(x, {"mode": "train", "p": p})
    kept = out != 0
    # 200k Bernoulli(p) draws: the kept fraction's standard error is below 1.2e-3
    assert abs(kept.mean() - p) < 6e-3
    assert abs(out.mean() - x.mean()) < 0.1  # inverted dropout: E[out] = x
    np.testing.assert_allclose(out[kept], x[kept] / p, rtol=1e-15)  # x * (1 / p): one rounding apart
    assert set(np.unique(mask)) <= {0.0, 1.0 / p}


def test_test_mode_is_the_identity_and_draws_nothing():
    np.random.seed(1)
    x = np.random.randn(20, 30)
    state = np.random.get_state()[1].copy()
    out, (_, mask) = dropout_forward(x, {"mode": "test", "p": 0.3})
    assert out is x and mask is None
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    dout = np.random.randn(20, 30)
    assert dropout_backward(dout, dropout_forward(x, {"mode": "test", "p": 0.3})[1]) is dout


def test_seed_gives_the_same_mask_and_reseeds_the_global_rng():
    x = np.ones((50, 60))
    param = {"mode": "train", "p": 0.6, "seed": 123}
    np.random.seed(7)
    first, _ = dropout_forward(x, param)
    np.random.rand(1000)  # move the global stream on: the seed must override it
    second, _ = dropout_forward(x, param)
    np.testing.assert_array_equal(first, second)
    # exactly the documented protocol: seed, then one rand(*x.shape)
    np.random.seed(123)
    np.testing.assert_array_equal(first, x * ((np.random.rand(50, 60) < 0.6) / 0.6))
    after = np.random.rand(3)
    dropout_forward(x, {"mode": "test", "p": 0.6, "seed": 123})  # test mode reseeds too
    np.testing.assert_array_equal(np.random.rand(3), np.random.RandomState(123).rand(3))
    assert not np.array_equal(after, np.random.RandomState(123).rand(3))
    assert param == {"mode": "train", "p": 0.6, "seed": 123}  # not modified


def test_different_seeds_give_different_masks():
    x = np.ones((30, 30))
    a, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 1})
    b, _ = dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 2})
    assert not np.array_equal(a, b)


def test_dtype_is_preserved():
    x = np.random.default_rng(2).standard_normal((10, 10)).astype(np.float32)
    out, (_, mask) = dropout_forward(x, {"mode": "train", "p": 0.7, "seed": 0})
    assert out.dtype == np.float32 and mask.dtype == np.float32
    assert dropout_backward(np.ones_like(x), ({"mode": "train", "p": 0.7}, mask)).dtype == np.float32


def test_keep_probability_one_keeps_everything():
    x = np.random.default_rng(3).standard_normal((8, 9))
    out, _ = dropout_forward(x, {"mode": "train", "p": 1.0})
    np.testing.assert_array_equal(out, x)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="'train' or 'test', got 'eval'"):
        dropout_forward(np.ones(3), {"mode": "eval", "p": 0.5})


def test_backward_numerical():
    rng = np.random.default_rng(231)
    x, dout = rng.standard_normal((10, 10)) + 10, rng.standard_normal((10, 10))
    param = {"mode": "train", "p": 0.2, "seed": 123}
    _, cache = dropout_forward(x, param)
    dx = dropout_backward(dout, cache)
    # the seed key makes every call draw the same mask, so the layer is linear in x
    dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, param)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-9
    np.testing.assert_array_equal(dx, dout * cache[1])
