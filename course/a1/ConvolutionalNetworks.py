# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Convolutional networks
#
# So far every layer you wrote treated an image as one long row of numbers: the affine layer
# connects every pixel to every hidden unit and has no idea that neighbouring pixels belong
# together. **Convolutional layers** build that knowledge in. Each one slides a few small
# filters over the image, so the same handful of weights looks for the same pattern — an edge,
# a colour blob, a texture — everywhere.
#
# In this notebook you will
# - implement convolution and max pooling, forward and backward, with plain loops;
# - see why the vectorised versions of the same layers are hundreds of times faster, and use
#   them from then on;
# - assemble a three-layer convolutional network, check it, overfit a small data set with it
#   and train it for one epoch on CIFAR-10 (the saved model is graded);
# - implement two normalisations made for images: spatial batch normalisation and group
#   normalisation.
#
# This notebook builds on your earlier work: the setup cell imports your layers and your Adam
# from `FullyConnectedNets.ipynb` and your batch normalization from `BatchNormalization.ipynb`.
# Complete and save both notebooks before you start. As before, write code only in the cells
# marked `YOUR CODE HERE`, and define any helper function inside the graded cell that uses it
# (the grader takes only the graded cells); every check cell seeds its own random numbers, so you
# can re-run any of them on its own.

# %% role="setup"
import numpy as np
import matplotlib.pyplot as plt

from dl.data import course_photos, get_cifar10_data
from dl.fast_layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast
from dl.checking import check_close
from dl.gradcheck import check_model_gradients, eval_numerical_gradient_array, rel_error
from dl.models.cnn import save_conv_net
from dl.notebook_import import import_notebook
from dl.solver import Solver
from dl.utils import Timer, smoke_mode
from dl.vis import imshow_no_ax, plot_normalization_groups, setup_notebook, visualize_grid
from dl.widgets import KernelEditor, TrainingDashboard

setup_notebook()
SMOKE = smoke_mode()  # DL_SMOKE=1: a small generated data set and short runs (for CI)

# Your layers from FullyConnectedNets.ipynb (complete and save that notebook first).
fc = import_notebook("FullyConnectedNets.ipynb")
affine_forward, affine_backward = fc.affine_forward, fc.affine_backward
relu_forward, relu_backward, softmax_loss = fc.relu_forward, fc.relu_backward, fc.softmax_loss
adam = fc.adam
# Your batch normalization from BatchNormalization.ipynb: spatial batch normalization calls it.
bn = import_notebook("BatchNormalization.ipynb")
batchnorm_forward, batchnorm_backward = bn.batchnorm_forward, bn.batchnorm_backward

data = get_cifar10_data()
for name, array in data.items():
    print(f"{name}: {array.shape}")

# %% [markdown]
# ## Convolutional networks in a nutshell
#
# A convolutional layer takes a stack of images `x` of shape `(N, C, H, W)` — `N` examples,
# each with `C` channels (3 colours for the input, or the outputs of earlier filters) of size
# `H × W` — and `F` filters `w` of shape `(F, C, HH, WW)`. Each filter is a small box of weights
# as deep as the input. To compute one output value, place the filter on the input, multiply
# the overlapping numbers element by element, add them up, and add the filter's bias `b[f]`.
# Sliding the filter over every position gives one output image (an *activation map*) per
# filter, so the output has shape `(N, F, H', W')`.
#
# Two parameters control the sliding:
# - **stride** `s`: how many pixels the filter moves between positions;
# - **pad** `p`: how many rows and columns of zeros are added around the input first, so that
#   the filter can also be centred on border pixels.
#
# Written out, with `xpad` the zero-padded input,
#
# `out[n, f, i, j] = sum over c, k, l of xpad[n, c, i·s + k, j·s + l] · w[f, c, k, l] + b[f]`,
#
# and the output size is `H' = 1 + (H + 2p - HH) / s` and `W' = 1 + (W + 2p - WW) / s`. (Deep
# learning libraries call this a convolution even though, strictly, it is a cross-correlation:
# the filter is not flipped. We follow them.)
#
# Compared with an affine layer, a convolution has two big advantages for images. It is
# **local**: each output looks at a small neighbourhood, where most of the structure of an
# image is. And it **shares weights**: the same filter is used at every position, so a
# 3×3 filter over 3 channels has 27 weights whatever the image size, and a pattern learned in
# one corner is recognised everywhere.
#
# The networks in this notebook stack a few kinds of layers: convolutions, ReLUs, **max
# pooling** (which shrinks each activation map by keeping the largest value of each small
# window) and the affine layers you already know.

# %% [markdown]
# ## Convolution: naive forward pass
#
# Implement `conv_forward_naive` with explicit loops: over examples, filters and output
# positions. Don't worry about speed; clarity is the goal here, and the next sections show how
# a fast version works. Some hints:
# - `np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))` pads only the two spatial axes;
# - one output value is `np.sum(window * w[f]) + b[f]`, where `window` is the `(C, HH, WW)`
#   slice of the padded input under the filter;
# - raise a `ValueError` when the filter, stride and padding do not fit the input exactly (when
#   `H'` or `W'` would not be a whole number);
# - the cache is `(x, w, b, conv_param)`; do not modify `x` (pad a copy).

# %% unit="a1-cnn-conv_forward_naive"
# The build inlines the reference of this unit here.

# %% [markdown]
# Check your output against the reference. The difference should be around `1e-8` or smaller.

# %% role="check"
x_shape = (2, 3, 4, 4)
w_shape = (3, 3, 4, 4)
x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
b = np.linspace(-0.1, 0.2, num=3)
conv_param = {"stride": 2, "pad": 1}

out, _ = conv_forward_naive(x, w, b, conv_param)
correct_out = reference_value(conv_forward_naive(x, w, b, conv_param)[0])
print("output shape:", out.shape, "(should be (2, 3, 2, 2))")
check_close("out", out, correct_out, label="conv_forward_naive difference:")

# %% tests="a1-cnn-conv_forward_naive"

# %% [markdown]
# ## Aside: image processing with convolutions
#
# Long before anyone learned filters from data, people designed them by hand to process
# images. Your `conv_forward_naive` can run such filters too. Here are two photographs (both
# bundled with scikit-learn under a Creative Commons attribution licence), cropped to squares
# of 200 × 200 pixels, and two hand-made 3 × 3 filters:
#
# - **greyscale**: only the centre tap is non-zero, with weights 0.3, 0.6 and 0.1 on the red,
#   green and blue channels. Each output pixel is a weighted average of the colours of the input
#   pixel under it — roughly how bright the eye perceives it;
# - **horizontal edges**: on the blue channel, `[[1, 2, 1], [0, 0, 0], [-1, -2, -1]]` subtracts
#   the row below a pixel from the row above it. In flat regions the two cancel; across a
#   horizontal edge they don't, so edges light up (bright or dark, depending on the direction
#   of the change). Its bias of 128 puts "no edge" at mid-grey.
#
# Each response is drawn with its values rescaled to the full black-to-white range.

# %%
photos = course_photos(size=200)  # (2, 3, 200, 200): two RGB photos, values 0..255

w = np.zeros((2, 3, 3, 3))  # (F, C, HH, WW): two filters over the three colour channels
w[0, 0, 1, 1] = 0.3  # greyscale: red,
w[0, 1, 1, 1] = 0.6  # green
w[0, 2, 1, 1] = 0.1  # and blue at the centre pixel only
w[1, 2] = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]  # horizontal edges, on the blue channel
b = np.array([0.0, 128.0])

out, _ = conv_forward_naive(photos, w, b, {"stride": 1, "pad": 1})  # (2, 2, 200, 200): same size as photos

fig = plt.figure(figsize=(12, 8))
for i in range(2):
    panels = [(photos[i].transpose(1, 2, 0).astype(np.uint8), False, "Photo"),  # (H, W, 3) for imshow
              (out[i, 0], True, "Greyscale"),
              (out[i, 1], True, "Horizontal edges")]
    for j, (image, normalize, title) in enumerate(panels):
        plt.subplot(2, 3, 3 * i + j + 1)
        imshow_no_ax(image, normalize=normalize)
        plt.title(title)
plt.tight_layout()
plt.show()

# %% [markdown]
# Notice the thin line along the top of the first photo's edge response. There the upper row of
# the edge filter lies on the zero padding, which looks like a black border above a bright sky:
# a strong horizontal edge that is not in the photo. Padding keeps the output size, at the price
# of such border effects.
#
# Now try filters of your own. The editor below applies a 3 × 3 kernel to one colour channel
# (or to all three) of both photos, and redraws the responses whenever you change a number.
# Some things to try: the vertical-edge kernel `[[1, 0, -1], [2, 0, -2], [1, 0, -1]]`; a blur,
# all nine weights `1/9`; a sharpening kernel, `5` in the centre and `-1` above, below, left
# and right of it; a kernel whose weights do not sum to zero, and one whose weights do. (The
# editor needs a live Jupyter kernel. It stays editable until you run another cell; then it
# leaves the picture of its last kernel, which is also what a saved copy of the notebook shows.
# Run its cell again to go on editing.)

# %%
KernelEditor(photos)

# %% [markdown]
# ## Convolution: naive backward pass
#
# Every output value `out[n, f, i, j]` is a sum of products `xpad[...] · w[f, ...]` over one
# window, plus `b[f]`. So its upstream gradient `dout[n, f, i, j]` flows back:
# - to each input value of the window, multiplied by the filter weight it met:
#   `dxpad[n, :, window] += w[f] * dout[n, f, i, j]`;
# - to each filter weight, multiplied by the input value it met:
#   `dw[f] += xpad[n, :, window] * dout[n, f, i, j]`;
# - to the bias, unchanged: `db[f]` is the sum of `dout[:, f, :, :]`.
#
# Windows overlap whenever the stride is smaller than the filter, so the gradients must be
# *accumulated* with `+=`. At the end, cut the padding off `dxpad`: the zeros were not
# inputs, and `dx` has the shape of `x`.
#
# Implement `conv_backward_naive`. The numerical gradient check below should give relative
# errors around `1e-8` or smaller.

# %% unit="a1-cnn-conv_backward_naive"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
x = np.random.randn(4, 3, 5, 5)
w = np.random.randn(2, 3, 3, 3)
b = np.random.randn(2)
dout = np.random.randn(4, 2, 5, 5)
conv_param = {"stride": 1, "pad": 1}

dx_num = eval_numerical_gradient_array(lambda xx: conv_forward_naive(xx, w, b, conv_param)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda ww: conv_forward_naive(x, ww, b, conv_param)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda bb: conv_forward_naive(x, w, bb, conv_param)[0], b, dout)

_, cache = conv_forward_naive(x, w, b, conv_param)
dx, dw, db = conv_backward_naive(dout, cache)

check_close("dx", dx, dx_num, like="x")
check_close("dw", dw, dw_num, like="w")
check_close("db", db, db_num, like="b")

# %% tests="a1-cnn-conv_backward_naive"

# %% [markdown]
# ## Max pooling: naive forward pass
#
# A max-pooling layer slides a `pool_height × pool_width` window over each channel of each
# example on its own, with the given stride, and keeps the largest value of every window. It
# has no weights and no padding; the output size is `H' = 1 + (H - pool_height) / stride` (and
# likewise for the width). With the usual 2 × 2 windows and stride 2, it halves the height and
# width: later layers see a coarser map, which is cheaper to process and a little less
# sensitive to exactly where a feature was found.
#
# Implement `max_pool_forward_naive`, raising a `ValueError` when the windows do not fit the
# input exactly. The check should print a difference around `1e-8` or smaller.

# %% unit="a1-cnn-max_pool_forward_naive"
# The build inlines the reference of this unit here.

# %% role="check"
x_shape = (2, 3, 4, 4)
x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
pool_param = {"pool_width": 2, "pool_height": 2, "stride": 2}

out, _ = max_pool_forward_naive(x, pool_param)
correct_out = reference_value(max_pool_forward_naive(x, pool_param)[0])
print("output shape:", out.shape, "(should be (2, 3, 2, 2))")
check_close("out", out, correct_out, label="max_pool_forward_naive difference:")

# %% tests="a1-cnn-max_pool_forward_naive"

# %% [markdown]
# ## Max pooling: naive backward pass
#
# The maximum of a window depends only on its largest element: nudging any other element a
# little does not change the output at all. So each upstream value `dout[n, c, i, j]` goes
# entirely to the position of its window's maximum, and every other element of the window
# gets nothing from it. `np.argmax` and `np.unravel_index` find that position. Elements often
# tie for the maximum (after a ReLU, whole windows are 0): then sending the gradient to the
# first of them (the one `np.argmax` returns) is the usual choice, and the hidden checks accept
# any rule that passes each window's `dout` to its maxima only, in shares that sum to `dout`.
# When windows overlap, accumulate with `+=`.
#
# Implement `max_pool_backward_naive`. The relative error should be around `1e-12`: the routed
# values are exact copies of `dout`.

# %% unit="a1-cnn-max_pool_backward_naive"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
x = np.random.randn(3, 2, 8, 8)
dout = np.random.randn(3, 2, 4, 4)
pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

dx_num = eval_numerical_gradient_array(lambda xx: max_pool_forward_naive(xx, pool_param)[0], x, dout)
_, cache = max_pool_forward_naive(x, pool_param)
dx = max_pool_backward_naive(dout, cache)
check_close("dx", dx, dx_num, like="x")

# %% tests="a1-cnn-max_pool_backward_naive"

# %% [markdown]
# ### Optional question (not graded)
#
# In a 2 × 2 max pool, only one of the four inputs of each window receives any gradient. Why is
# that, and what does it mean for training? Think about which units of the layer below learn
# from a given example, and about what would happen to a unit that is never the largest in its
# window.

# %% [markdown]
# ## Fast layers: why vectorisation matters
#
# Your naive layers are correct, but slow. A loop in Python pays a fixed cost at every step —
# looking up names, creating small arrays, calling numpy — that is far larger than the handful
# of multiplications the step does. A convolution of 100 small images with 25 filters already
# needs 640,000 such steps.
#
# The fast layers in `dl.fast_layers` (provided) compute exactly the same thing with a few calls
# that each process whole arrays in compiled code:
#
# - **convolution as one matrix product ("im2col")**: every filter-sized window of the padded
#   input is laid out as one column of a big matrix of shape `(C·HH·WW, N·H'·W')`. With the
#   filters as the rows of a `(F, C·HH·WW)` matrix, one matrix multiplication computes every
#   output at once, and matrix multiplication is what numerical libraries (BLAS) do best: they
#   use all cores, vector instructions and the CPU caches. The backward pass is two more
#   products and a loop over the `HH·WW` filter offsets (not over the outputs) that folds the
#   column gradients back onto the image. The price is memory: the column matrix holds every
#   input value about `HH·WW / stride²` times (9 times for 3 × 3 filters with stride 1).
# - **max pooling by reshaping**: when 2 × 2 windows with stride 2 tile the image exactly, the
#   array `(N, C, H, W)` can be *viewed* as `(N, C, H/2, 2, W/2, 2)` without copying, and one
#   maximum over the two window axes pools everything. Other window shapes get a similar
#   copy-free view of all their windows.
#
# Below, each naive layer races its fast counterpart on the same input. The outputs and
# gradients should agree to about `1e-9` or better for the convolution and exactly (a
# difference of `0.0`) for max pooling, and the fast versions should be much faster: tens of
# times for pooling, hundreds of times for the convolution. (The timings depend on your machine
# and are only printed; in smoke mode the inputs are smaller so that the naive loops finish
# quickly.)

# %% role="check"
# The naive loops take several seconds on the full-size input.
N, H = (10, 15) if SMOKE else (100, 31)
np.random.seed(231)
x = np.random.randn(N, 3, H, H)
w = np.random.randn(25, 3, 3, 3)
b = np.random.randn(25)
conv_param = {"stride": 2, "pad": 1}
H_out = 1 + (H + 2 - 3) // 2
dout = np.random.randn(N, 25, H_out, H_out)

with Timer() as t_naive:
    out_naive, cache_naive = conv_forward_naive(x, w, b, conv_param)
with Timer() as t_fast:
    out_fast, cache_fast = conv_forward_fast(x, w, b, conv_param)
print(f"Forward pass on x of shape {x.shape}")
print(f"  naive: {t_naive.elapsed:.4f} s, fast: {t_fast.elapsed:.4f} s, speed-up: {t_naive.elapsed / t_fast.elapsed:.0f}x")
print("  difference:", rel_error(out_naive, out_fast))

with Timer() as t_naive:
    dx_naive, dw_naive, db_naive = conv_backward_naive(dout, cache_naive)
with Timer() as t_fast:
    dx_fast, dw_fast, db_fast = conv_backward_fast(dout, cache_fast)
print(f"Backward pass on dout of shape {dout.shape}")
print(f"  naive: {t_naive.elapsed:.4f} s, fast: {t_fast.elapsed:.4f} s, speed-up: {t_naive.elapsed / t_fast.elapsed:.0f}x")
print("  dx difference:", rel_error(dx_naive, dx_fast))
print("  dw difference:", rel_error(dw_naive, dw_fast))
print("  db difference:", rel_error(db_naive, db_fast))

# %% role="check"
N, H = (10, 16) if SMOKE else (100, 32)
np.random.seed(231)
x = np.random.randn(N, 3, H, H)
dout = np.random.randn(N, 3, H // 2, H // 2)
pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

with Timer() as t_naive:
    out_naive, cache_naive = max_pool_forward_naive(x, pool_param)
with Timer() as t_fast:
    out_fast, cache_fast = max_pool_forward_fast(x, pool_param)
print(f"Forward pass on x of shape {x.shape}")
print(f"  naive: {t_naive.elapsed:.4f} s, fast: {t_fast.elapsed:.4f} s, speed-up: {t_naive.elapsed / t_fast.elapsed:.0f}x")
print("  difference:", rel_error(out_naive, out_fast))

with Timer() as t_naive:
    dx_naive = max_pool_backward_naive(dout, cache_naive)
with Timer() as t_fast:
    dx_fast = max_pool_backward_fast(dout, cache_fast)
print(f"Backward pass on dout of shape {dout.shape}")
print(f"  naive: {t_naive.elapsed:.4f} s, fast: {t_fast.elapsed:.4f} s, speed-up: {t_naive.elapsed / t_fast.elapsed:.0f}x")
print("  dx difference:", rel_error(dx_naive, dx_fast))

# %% [markdown]
# From here on, the networks use the fast layers. Your naive versions have done their job: they
# are the specification the fast ones are checked against.
#
# ## Sandwich layers
#
# As with `affine_relu_forward` in the first notebook, a few sequences of layers come up so
# often in convolutional networks that they get names of their own:
# - `conv_relu_forward` / `conv_relu_backward`: a (fast) convolution followed by your ReLU;
# - `conv_relu_pool_forward` / `conv_relu_pool_backward`: a convolution, a ReLU and a (fast)
#   max pool.
#
# Each forward keeps the caches of its parts together; each backward unpacks them and runs the
# parts' backward passes in reverse order. The cell below defines them (along with the affine
# sandwich), and the checks confirm that they fit together with your ReLU. Relative errors
# around `1e-8` or smaller are good.

# %% provide="dl.layer_utils:affine_relu_forward,affine_relu_backward,conv_relu_forward,conv_relu_backward,conv_relu_pool_forward,conv_relu_pool_backward"

# %% role="check"
np.random.seed(231)
x = np.random.randn(2, 3, 16, 16)
w = np.random.randn(3, 3, 3, 3)
b = np.random.randn(3)
dout = np.random.randn(2, 3, 8, 8)
conv_param = {"stride": 1, "pad": 1}
pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
dx, dw, db = conv_relu_pool_backward(dout, cache)

dx_num = eval_numerical_gradient_array(lambda xx: conv_relu_pool_forward(xx, w, b, conv_param, pool_param)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda ww: conv_relu_pool_forward(x, ww, b, conv_param, pool_param)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda bb: conv_relu_pool_forward(x, w, bb, conv_param, pool_param)[0], b, dout)

print("Testing conv_relu_pool")
check_close("dx", dx, dx_num, like="x")
check_close("dw", dw, dw_num, like="w")
check_close("db", db, db_num, like="b")

# %% role="check"
np.random.seed(231)
x = np.random.randn(2, 3, 8, 8)
w = np.random.randn(3, 3, 3, 3)
b = np.random.randn(3)
dout = np.random.randn(2, 3, 8, 8)
conv_param = {"stride": 1, "pad": 1}

out, cache = conv_relu_forward(x, w, b, conv_param)
dx, dw, db = conv_relu_backward(dout, cache)

dx_num = eval_numerical_gradient_array(lambda xx: conv_relu_forward(xx, w, b, conv_param)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda ww: conv_relu_forward(x, ww, b, conv_param)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda bb: conv_relu_forward(x, w, bb, conv_param)[0], b, dout)

print("Testing conv_relu")
check_close("dx", dx, dx_num, like="x")
check_close("dw", dw, dw_num, like="w")
check_close("db", db, db_num, like="b")

# %% [markdown]
# ## A three-layer convolutional network
#
# Now build a small classifier out of these pieces:
#
# `conv - relu - 2x2 max pool - affine - relu - affine - softmax`
#
# Conventions (the checks rely on them):
# - the convolution has `num_filters` filters of size `filter_size × filter_size`, stride 1 and
#   padding `(filter_size - 1) // 2`, so that (for odd filter sizes) it keeps the image size;
#   the pool (2 × 2, stride 2) then halves the height and width;
# - parameters are `W1, b1` (convolution), `W2, b2` (hidden affine layer) and `W3, b3` (output
#   layer) in `self.params`. `W2` has one row per value of the pooled output:
#   `num_filters · H/2 · W/2` rows;
# - draw the weights in the order `W1, W2, W3`, each as `weight_scale * np.random.randn(...)`,
#   and set the biases to zero; then cast every parameter to `dtype`;
# - `loss(X)` without labels returns the scores; with labels it returns the loss and a dict of
#   gradients keyed like `self.params`. The loss adds `0.5 * reg * (‖W1‖² + ‖W2‖² + ‖W3‖²)`;
#   `self.reg` can be changed after construction.
#
# Use the fast sandwich layers defined above and your affine layer and softmax loss.

# %% unit="a1-cnn-ThreeLayerConvNet"
# The build inlines the reference of this unit here.

# %% [markdown]
# ### Sanity check: the initial loss
#
# With small random weights the network guesses each of the 10 classes with about the same
# probability, so the loss should be close to `ln(10) ≈ 2.303`. Regularisation adds
# `0.5 · reg · (sum of the squared weights)`; with `reg = 0.5` the loss should go up by a little
# (the published run went from 2.3026 to 2.5083). Your numbers should match the reference ones.

# %% role="check"
np.random.seed(231)
model = ThreeLayerConvNet()
X = np.random.randn(50, 3, 32, 32)
y = np.random.randint(10, size=50)

losses = []
for reg in [0.0, 0.5]:
    model.reg = reg
    loss, _ = model.loss(X, y)
    losses.append(float(loss))
    print(f"reg = {reg}: initial loss {loss:.6f}")
print("reference initial losses:", reference_value(losses))

# %% [markdown]
# ### Gradient check
#
# Next, compare every gradient with a numerical one on a tiny network and tiny inputs (in
# float64). The ReLUs and the max pool have kinks where the numerical gradient is inaccurate,
# and this network has several of them, so errors up to about `1e-2` are acceptable here; most
# parameters should do much better.

# %% role="check"
np.random.seed(231)
num_inputs = 2
input_dim = (3, 16, 16)
num_classes = 10
X = np.random.randn(num_inputs, *input_dim)
y = np.random.randint(num_classes, size=num_inputs)

model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=input_dim, hidden_dim=7, dtype=np.float64)
loss = model.loss(X, y)[0]
print(f"initial loss: {loss:.8f} (reference: {reference_value(loss)})")
check_model_gradients(model, X, y, h=1e-6)

# %% tests="a1-cnn-ThreeLayerConvNet"

# %% [markdown]
# ### Overfitting a small data set
#
# As with the fully connected networks, a quick way to catch bugs before a long run is to
# train on very little data: 100 images. The network should memorise them — the training
# accuracy climbs towards 100% — while the validation accuracy stays low, a clear case of
# overfitting. (The published run reached a training accuracy of about 0.99 after 15 epochs,
# against a validation accuracy of about 0.2.) The live plot shows the loss and both
# accuracies as training runs.
#
# Remember that `Solver` puts back the parameters of the epoch with the best validation
# accuracy at the end of training, so the accuracies printed below the plot are those of that
# epoch, not of the last one.

# %%
np.random.seed(231)
num_train = 100
small_data = {
    "X_train": data["X_train"][:num_train],
    "y_train": data["y_train"][:num_train],
    "X_val": data["X_val"],
    "y_val": data["y_val"],
}

model = ThreeLayerConvNet(weight_scale=1e-2)
dashboard = TrainingDashboard("Three-layer ConvNet on 100 images")
solver = Solver(
    model, small_data, num_epochs=3 if SMOKE else 15, batch_size=50, update_rule=adam,
    optim_config={"learning_rate": 1e-3}, verbose=True, print_every=1,
    callbacks=[dashboard.callback("overfit")],
)
solver.train()

print("Train accuracy:     ", solver.check_accuracy(small_data["X_train"], small_data["y_train"]))
print("Validation accuracy:", solver.check_accuracy(small_data["X_val"], small_data["y_val"]))

# %% [markdown]
# ### Train the network for one epoch
#
# Now train on the whole training set for **one epoch** (980 iterations of 50 images). This
# network is small, but it already sees the image as an image, and after a single pass over the
# data it should reach **more than 40% training accuracy** — better than many of the fully
# connected networks you tuned.
#
# Use this setup, which works well:
# - `ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)`, seeded with
#   `np.random.seed(231)`;
# - `Solver` with your `adam` (pass the function itself, `update_rule=adam`), learning rate
#   `1e-3`, batch size 50, one epoch, printing every 20 iterations;
# - a `TrainingDashboard` as the callback, to watch the run.
#
# Store the trained network in `model`. The last line saves its parameters to
# `artifacts/a1_convnet.npz`; the grader measures the accuracy of that file on held-out images
# (full marks from 40%), so run it after training. On a laptop the epoch takes a few minutes.

# %% unit="a1-cnn-one_epoch_model"
model = None
### BEGIN SOLUTION
np.random.seed(231)
model = ThreeLayerConvNet(weight_scale=0.001, hidden_dim=500, reg=0.001)
dashboard = TrainingDashboard("Three-layer ConvNet, one epoch")
solver = Solver(
    model, data, num_epochs=1, batch_size=50, update_rule=adam,
    optim_config={"learning_rate": 1e-3}, verbose=True, print_every=20,
    callbacks=[dashboard.callback("one epoch")],
)
solver.train()
### END SOLUTION

save_conv_net("a1_convnet", model)

# %% [markdown]
# Measure the trained network on the whole training set and on the validation set. The
# network is evaluated 100 images at a time, since the im2col matrix of the convolution grows
# with the batch; going through all the training images takes a minute or so.

# %%
def accuracy(model, X, y, batch_size=100):
    """Fraction of the images in X (N, C, H, W) that model classifies as y (N,)."""
    predictions = [np.argmax(model.loss(X[i:i + batch_size]), axis=1) for i in range(0, len(X), batch_size)]
    return np.mean(np.concatenate(predictions) == y)


print("Training accuracy:  ", accuracy(model, data["X_train"], data["y_train"]))
print("Validation accuracy:", accuracy(model, data["X_val"], data["y_val"]))

# %% [markdown]
# ### What did the first layer learn?
#
# Each first-layer filter is a small `7 × 7` colour image, so we can look at them directly.
# After just one epoch, many of them already look like the hand-made filters of the aside:
# oriented edges, and blobs of one colour against another.

# %%
grid = visualize_grid(model.params["W1"].transpose(0, 2, 3, 1))  # (F, C, HH, WW) -> (F, HH, WW, C)
plt.imshow(grid.astype("uint8"))
plt.axis("off")
plt.gcf().set_size_inches(5, 5)
plt.show()

# %% [markdown]
# ## Spatial batch normalization
#
# Batch normalization (Ioffe and Szegedy, 2015, arXiv:1502.03167, which you met in
# BatchNormalization.ipynb) made deep fully connected networks much easier to train. It helps
# convolutional networks too, but it needs a small change to respect what a convolution does.
#
# For an affine layer, batch normalization takes input of shape `(N, D)` and normalises each of
# the `D` features with the mean and variance over the `N` examples. A convolutional layer
# produces `(N, C, H, W)`, and the `H × W` values of one channel all come from *the same
# filter* applied at different positions. We expect them to follow one distribution, and we
# want the normalisation to treat every position alike, just as the filter does. So **spatial
# batch normalization** computes one mean and one variance per channel, over all `N · H · W`
# values of that channel in the minibatch, and learns one scale `γ` and one shift `β` per
# channel: `γ` and `β` have shape `(C,)`.
#
# In other words, spatial batch normalization is ordinary batch normalization in which every
# pixel of every example counts as one example. That gives a short implementation: move the
# channel axis last, reshape to a matrix of shape `(N·H·W, C)`, call your `batchnorm_forward`,
# and undo the reshape (the backward pass does the same with `batchnorm_backward`). Everything
# about `bn_param` — the train and test modes and the running statistics written back into it
# — comes with the call.

# %% [markdown]
# ### Spatial batch normalization: forward pass
#
# Implement `spatial_batchnorm_forward`. Careful with the reshape: `x.reshape(-1, C)` alone
# would mix channels; transpose to `(N, H, W, C)` first, and transpose back at the end.

# %% unit="a1-cnn-spatial_batchnorm_forward"
# The build inlines the reference of this unit here.

# %% [markdown]
# First, train mode. The check computes the mean and standard deviation of each channel (over
# axes 0, 2 and 3) before and after normalization. Before, you should see means
# `[9.33463814, 8.90909116, 9.11056338]` and standard deviations
# `[3.61447857, 3.19347686, 3.5168142]`. After normalizing with `γ = 1, β = 0`, the means
# should be tiny (around `1e-16`) and the standard deviations
# `[0.99999962, 0.99999951, 0.9999996]` — just under 1, because of `eps`. With
# `γ = [3, 4, 5]` and `β = [6, 7, 8]`, the means should be `[6, 7, 8]` and the standard
# deviations `[2.99999885, 3.99999804, 4.99999798]`.

# %% role="check"
np.random.seed(231)
N, C, H, W = 2, 3, 4, 5
x = 4 * np.random.randn(N, C, H, W) + 10

print("Before spatial batch normalization:")
print("  shape:", x.shape)
print("  means:", x.mean(axis=(0, 2, 3)))
print("  stds: ", x.std(axis=(0, 2, 3)))

gamma, beta = np.ones(C), np.zeros(C)
out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
print("After spatial batch normalization with gamma = 1, beta = 0:")
print("  shape:", out.shape)
print("  means:", out.mean(axis=(0, 2, 3)))
print("  stds: ", out.std(axis=(0, 2, 3)))

gamma, beta = np.array([3.0, 4.0, 5.0]), np.array([6.0, 7.0, 8.0])
out, _ = spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
print("After spatial batch normalization with gamma = [3, 4, 5], beta = [6, 7, 8]:")
print("  shape:", out.shape)
print("  means:", out.mean(axis=(0, 2, 3)))
print("  stds: ", out.std(axis=(0, 2, 3)))

# %% [markdown]
# Now test mode. After 50 train-mode calls, the running averages in `bn_param` should be good
# estimates of the true statistics, and a fresh minibatch normalised with them in test mode
# should have means close to 0 and standard deviations close to 1. The expected values are
# means `[-0.08034406, 0.07562881, 0.05716371, 0.04378383]` and standard deviations
# `[0.96718744, 1.0299714, 1.02887624, 1.00585577]`.

# %% role="check"
np.random.seed(231)
N, C, H, W = 10, 4, 11, 12

bn_param = {"mode": "train"}
gamma = np.ones(C)
beta = np.zeros(C)
for t in range(50):
    x = 2.3 * np.random.randn(N, C, H, W) + 13
    spatial_batchnorm_forward(x, gamma, beta, bn_param)  # only the running statistics matter here

bn_param["mode"] = "test"
x = 2.3 * np.random.randn(N, C, H, W) + 13
a_norm, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)

print("After spatial batch normalization (test mode):")
print("  means:", a_norm.mean(axis=(0, 2, 3)))
print("  stds: ", a_norm.std(axis=(0, 2, 3)))

# %% tests="a1-cnn-spatial_batchnorm_forward"

# %% [markdown]
# ### Spatial batch normalization: backward pass
#
# The backward pass mirrors the forward one: reshape `dout` to `(N·H·W, C)` exactly as you
# reshaped `x`, call your `batchnorm_backward` with the cache, and bring `dx` back to
# `(N, C, H, W)`. `dgamma` and `dbeta` already have shape `(C,)`.
#
# Implement `spatial_batchnorm_backward`. The relative errors should be around `1e-6` or
# smaller.

# %% unit="a1-cnn-spatial_batchnorm_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
N, C, H, W = 2, 3, 4, 5
x = 5 * np.random.randn(N, C, H, W) + 12
gamma = np.random.randn(C)
beta = np.random.randn(C)
dout = np.random.randn(N, C, H, W)

bn_param = {"mode": "train"}
dx_num = eval_numerical_gradient_array(lambda xx: spatial_batchnorm_forward(xx, gamma, beta, bn_param)[0], x, dout)
dgamma_num = eval_numerical_gradient_array(lambda gg: spatial_batchnorm_forward(x, gg, beta, bn_param)[0], gamma, dout)
dbeta_num = eval_numerical_gradient_array(lambda bb: spatial_batchnorm_forward(x, gamma, bb, bn_param)[0], beta, dout)

_, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
check_close("dx", dx, dx_num, like="x", label="dx error:    ")
check_close("dgamma", dgamma, dgamma_num, like="gamma")
check_close("dbeta", dbeta, dbeta_num, like="beta", label="dbeta error: ")

# %% tests="a1-cnn-spatial_batchnorm_backward"

# %% [markdown]
# ## Group normalization
#
# Batch normalization depends on the minibatch: its statistics are only reliable when the
# batch is large, and large batches of big images may not fit in memory. Layer normalization
# avoids the batch altogether by normalising each example on its own, over all its features.
# For convolutional layers this turns out to work less well than batch normalization: it forces
# every channel of an example to share one mean and one variance, although different filters
# respond to very different things — one to a rare edge, another to the overall brightness.
#
# **Group normalization** (Yuxin Wu and Kaiming He, *Group Normalization*, 2018,
# arXiv:1803.08494) takes a middle road. It splits the `C` channels of each example into `G`
# groups of `C / G` consecutive channels, and normalises each group on its own, over its
# `C/G · H · W` values. Then, as usual, every channel gets its own scale `γ` and shift `β`. Like
# layer normalization it never looks at other examples, so it behaves the same in training and
# at test time, needs no running statistics and works with any batch size. Two extreme cases
# are familiar: `G = 1` is layer normalization over `(C, H, W)`, and `G = C` normalises every
# channel of every example separately (instance normalization: Dmitry Ulyanov, Andrea Vedaldi
# and Victor Lempitsky, *Instance Normalization: The Missing Ingredient for Fast Stylization*,
# 2016, arXiv:1607.08022).
#
# The figure below compares the four on activations of shape `(N, C, H, W)`. Each square is
# one channel of one example, that is all its `H × W` values; squares of one colour are
# normalised together, with one mean and one variance. Every method pools all positions of a
# channel; they differ in which channels and which examples they pool.

# %%
plot_normalization_groups(N=3, C=6, G=2)
plt.show()

# %% [markdown]
# Batch normalization pools a channel across the batch, which is why its statistics depend on
# the other examples. The other three look at one example only; between one set per example
# (layer norm) and one per channel (instance norm), group normalization chooses `G` sets.
#
# The idea of normalising over groups is older than deep learning. Hand-designed image
# features, such as histograms of oriented gradients (Navneet Dalal and Bill Triggs,
# *Histograms of Oriented Gradients for Human Detection*, 2005), compute many related
# measurements (one per orientation and cell) and normalise them group by group, over blocks of
# neighbouring cells, so that each group becomes insensitive to local changes of brightness and
# contrast while groups can still differ from each other.
#
# Conventions (the checks rely on them): `γ` and `β` have shape `(1, C, 1, 1)`, so that they
# broadcast over `(N, C, H, W)`; `C` must be a multiple of `G` (raise a `ValueError`
# otherwise); the variance is the biased one (divided by the number of values), and `eps` is
# `gn_param.get("eps", 1e-5)`. `gn_param` has no other keys that matter: there is no mode.

# %% [markdown]
# ### Group normalization: forward pass
#
# Implement `spatial_groupnorm_forward`. Reshaping `x` to `(N, G, C/G · H · W)` puts the values
# of each group of each example in one row. The cache should hold what the backward pass needs
# (for example the normalised input, the per-group standard deviations, `γ` and `G`).
#
# The check looks at the statistics of each group of each example (each row of
# `x.reshape(N * G, -1)`). Before, you should see means
# `[9.72505327, 8.51114185, 8.9147544, 9.43448077]` and standard deviations
# `[3.67070958, 3.09892597, 4.27043622, 3.97521327]`; after normalizing with `γ = 1, β = 0`,
# means around `1e-16` and standard deviations `[0.99999963, 0.99999948, 0.99999973,
# 0.99999968]`. A second case uses random `γ` and `β`, to check that each channel gets its own
# scale and shift. Rather than all 240 output values, it compares a few of them (one from each
# group of each example) and the norm of the whole output with the reference; the difference
# should be around `1e-8` or smaller. (The hidden checks compare every value.)

# %% unit="a1-cnn-spatial_groupnorm_forward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
N, C, H, W = 2, 6, 4, 5
G = 2
x = 4 * np.random.randn(N, C, H, W) + 10
x_groups = x.reshape(N * G, -1)  # one row per example and group
print("Before spatial group normalization:")
print("  shape:", x.shape)
print("  means:", x_groups.mean(axis=1))
print("  stds: ", x_groups.std(axis=1))

gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})
out_groups = out.reshape(N * G, -1)
print("After spatial group normalization with gamma = 1, beta = 0:")
print("  shape:", out.shape)
print("  means:", out_groups.mean(axis=1))
print("  stds: ", out_groups.std(axis=1))
print("  stds difference from the reference:", rel_error(out_groups.std(axis=1), reference_value(out_groups.std(axis=1))))


def summary(out):
    """out[0, 0, 0, 0], out[0, 4, 2, 1], out[1, 1, 3, 3], out[1, 5, 1, 4] (one entry per example and
    group of the (2, 6, 4, 5) output) and the norm of the whole output."""
    entries = [out[0, 0, 0, 0], out[0, 4, 2, 1], out[1, 1, 3, 3], out[1, 5, 1, 4]]
    return np.array([*entries, np.linalg.norm(out)])


gamma, beta = np.random.randn(1, C, 1, 1), np.random.randn(1, C, 1, 1)
out, _ = spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})
print("With random gamma and beta:")
print("  shape:", out.shape, "(should be (2, 6, 4, 5))")
print("  four entries and the norm:", summary(out))
check_close("summary(out)", summary(out),
            reference_value(summary(spatial_groupnorm_forward(x, gamma, beta, G, {"mode": "train"})[0])),
            label="  difference from the reference:")

# %% tests="a1-cnn-spatial_groupnorm_forward"

# %% [markdown]
# ### Group normalization: backward pass
#
# The backward pass of group normalization is the backward pass of layer normalization applied
# to each group: within a group, the mean and the variance depend on every value, so the
# gradient of each input collects contributions from all the outputs of its group. The
# compact form you derived for batch normalization carries over, with the sums and means
# taken over the values of a group (axis 2 of the `(N, G, C/G · H · W)` view) instead of over
# the batch. `dgamma` and `dbeta` sum over everything except the channel axis, keeping the
# shape `(1, C, 1, 1)`.
#
# Implement `spatial_groupnorm_backward`. The relative errors should be around `1e-7` or
# smaller.

# %% unit="a1-cnn-spatial_groupnorm_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
N, C, H, W = 2, 6, 4, 5
G = 2
x = 5 * np.random.randn(N, C, H, W) + 12
gamma = np.random.randn(1, C, 1, 1)
beta = np.random.randn(1, C, 1, 1)
dout = np.random.randn(N, C, H, W)

gn_param = {}
dx_num = eval_numerical_gradient_array(lambda xx: spatial_groupnorm_forward(xx, gamma, beta, G, gn_param)[0], x, dout)
dgamma_num = eval_numerical_gradient_array(lambda gg: spatial_groupnorm_forward(x, gg, beta, G, gn_param)[0], gamma, dout)
dbeta_num = eval_numerical_gradient_array(lambda bb: spatial_groupnorm_forward(x, gamma, bb, G, gn_param)[0], beta, dout)

_, cache = spatial_groupnorm_forward(x, gamma, beta, G, gn_param)
dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
check_close("dx", dx, dx_num, like="x", label="dx error:    ")
check_close("dgamma", dgamma, dgamma_num, like="gamma")
check_close("dbeta", dbeta, dbeta_num, like="beta", label="dbeta error: ")

# %% tests="a1-cnn-spatial_groupnorm_backward"
