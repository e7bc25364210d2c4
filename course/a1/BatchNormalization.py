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
# # Batch normalization
#
# Deep networks are hard to train partly because every layer keeps changing the distribution of
# the numbers it passes on. In the previous notebook you saw a five-layer network that trained
# only within a narrow range of weight scales. In this notebook you add a layer that fixes the
# scale of the signal: **normalization**. It standardises the pre-activations of each hidden
# layer, then lets the network rescale them with two learned parameters.
#
# You will
# - implement batch normalization in training and test mode, with running statistics;
# - write its backward pass twice: step by step through the computation graph, then in a
#   compact closed form that you derive;
# - add normalization to your `FullyConnectedNet` and see how it changes training, the
#   sensitivity to the weight initialisation and the dependence on the batch size;
# - implement layer normalization, which normalises each example on its own, and compare.
#
# This notebook builds on your work in `FullyConnectedNets.ipynb`: the setup cell imports your
# layers, your Adam and your `FullyConnectedNet` from it. Complete that notebook and save it
# before you start. As before, write code only in the cells marked `YOUR CODE HERE`, and define
# any helper function inside the graded cell that uses it (a later notebook imports only the
# graded cells). Every check cell seeds its own random numbers, so you can re-run any of them on
# its own.

# %% role="setup"
import numpy as np
import matplotlib.pyplot as plt

from dl.data import get_cifar10_data
from dl.experiments import run_batchsize_experiments, weight_scale_sweep
from dl.checking import check_close
from dl.gradcheck import check_model_gradients, eval_numerical_gradient_array, rel_error
from dl.notebook_import import import_notebook, rebind
from dl.solver import Solver
from dl.utils import Timer, smoke_mode
from dl.vis import plot_solver_comparison, plot_training_history, plot_weight_scale_sweep, setup_notebook
from dl.widgets import TrainingDashboard

setup_notebook()
SMOKE = smoke_mode()  # DL_SMOKE=1: a small generated data set and short runs (for CI)

# Your work from FullyConnectedNets.ipynb (complete and save that notebook first).
fc = import_notebook("FullyConnectedNets.ipynb")
affine_forward, affine_backward = fc.affine_forward, fc.affine_backward
relu_forward, relu_backward, softmax_loss = fc.relu_forward, fc.relu_backward, fc.softmax_loss
affine_relu_forward, affine_relu_backward = fc.affine_relu_forward, fc.affine_relu_backward
adam = fc.adam
# FullyConnectedNet, looking up the layers (and the batchnorm functions you write below) in this notebook:
FullyConnectedNet = rebind(fc.FullyConnectedNet, globals())

data = get_cifar10_data()
for name, array in data.items():
    print(f"{name}: {array.shape}")


# %% [markdown]
# The checks below look at the statistics of a layer's output, one number per feature (column)
# or, later, one per example (row). This small helper prints them.

# %%
def print_mean_std(x, axis=0):
    """Print the means and standard deviations of x along `axis` (0: per column, 1: per row)."""
    print(f"  means: {x.mean(axis=axis)}")
    print(f"  stds:  {x.std(axis=axis)}")
    print()


# %% [markdown]
# ## Why normalize?
#
# You already preprocess the *input* of a network: subtracting the mean image gives every pixel
# a mean of zero. Inputs that are centred and of similar scale make optimisation easier, because
# no single direction of the weights dominates the gradient. The hidden layers get no such help:
# the input of layer 5 is the output of layers 1 to 4, whose scale depends on the weights, and
# those weights change at every step. Each layer has to keep adapting to a moving distribution,
# and with an unlucky weight scale the signal shrinks or grows layer after layer.
#
# **Batch normalization** (Sergey Ioffe and Christian Szegedy, *Batch Normalization: Accelerating
# Deep Network Training by Reducing Internal Covariate Shift*, 2015, arXiv:1502.03167)
# standardises the signal inside the network. For a minibatch of
# pre-activations `x` of shape `(N, D)` it takes, for every feature (column) separately, the mean
# `μ` and the variance `σ²` over the `N` examples and computes
#
# $$\hat{x} = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad \text{out} = \gamma \hat{x} + \beta .$$
#
# Every feature of `x̂` now has mean 0 and variance 1, whatever the weights before it did. The
# learned scale `γ` and shift `β` (one of each per feature) give the network its freedom back:
# with `γ = σ` and `β = μ` the layer could even undo the normalization, if that were best. The
# small `ε` keeps the division safe when a feature barely varies.
#
# One more detail matters. At training time the statistics come from the current minibatch, so
# an example's output depends on the other examples in its batch. At test time we want a
# prediction for one image to depend on that image only, so the layer keeps **running averages**
# of the mean and variance during training and uses those instead. We place the normalization
# between each hidden affine layer and its ReLU.

# %% [markdown]
# ## Batch normalization: forward pass
#
# Implement `batchnorm_forward`. In train mode, compute the per-feature mean and the *biased*
# variance (divide by `N`, as `np.var` does), normalise, scale and shift, and update the running
# statistics with an exponential moving average:
#
# ```python
# running_mean = momentum * running_mean + (1 - momentum) * sample_mean
# running_var = momentum * running_var + (1 - momentum) * sample_var
# ```
#
# In test mode, normalise with `running_mean` and `running_var` instead. The running statistics
# live in `bn_param`, so that they persist from one call to the next; the starter code reads them
# and writes them back. Store in the cache whatever your backward pass will need.

# %% unit="a1-bn-batchnorm_forward"
# The build inlines the reference of this unit here.

# %% [markdown]
# First, train mode. We push random data through a small two-layer network, so that the three
# output features have very different means and spreads, and look at them before and after
# normalization. Before, you should see means of about `[-2.38, -13.18, 1.92]` and standard
# deviations of about `[27.19, 34.21, 37.69]`. After normalizing with `γ = 1, β = 0`, every mean
# should be about 0 (a tiny number like `1e-17`, whose exact value depends on the order of your
# operations) and every std about 1. With `γ = [1, 2, 3]` and `β = [11, 12, 13]` the means
# should be `β` and the stds `γ`: the largest deviations printed at the end should be around
# `1e-8` or smaller.

# %% role="check"
np.random.seed(231)
N, D1, D2, D3 = 200, 50, 60, 3
X = np.random.randn(N, D1)
W1 = np.random.randn(D1, D2)
W2 = np.random.randn(D2, D3)
a = np.maximum(0, X @ W1) @ W2  # (N, D3)

print("Before batch normalization:")
print_mean_std(a)

out, _ = batchnorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
print("After batch normalization with gamma = 1, beta = 0:")
print_mean_std(out)

gamma = np.array([1.0, 2.0, 3.0])
beta = np.array([11.0, 12.0, 13.0])
out, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
print("After batch normalization with gamma = [1, 2, 3], beta = [11, 12, 13]:")
print_mean_std(out)
print("largest |mean - beta|:", np.abs(out.mean(axis=0) - beta).max())
print("largest |std - gamma|:", np.abs(out.std(axis=0) - gamma).max())

# %% [markdown]
# Now test mode. We run the layer in train mode on 50 minibatches, so that the running averages
# settle, then switch to test mode and normalise a fresh minibatch with them. The running
# averages only estimate the true statistics, so the means will not be exactly 0 nor the stds
# exactly 1 — they should be close, and match the reference values to about `1e-8`. (These
# numbers depend on the defaults `momentum = 0.9` and `eps = 1e-5`.)

# %% role="check"
np.random.seed(231)
N, D1, D2, D3 = 200, 50, 60, 3
W1 = np.random.randn(D1, D2)
W2 = np.random.randn(D2, D3)

bn_param = {"mode": "train"}
gamma = np.ones(D3)
beta = np.zeros(D3)
for _ in range(50):
    X = np.random.randn(N, D1)
    a = np.maximum(0, X @ W1) @ W2
    batchnorm_forward(a, gamma, beta, bn_param)  # only the running statistics matter here

bn_param["mode"] = "test"
X = np.random.randn(N, D1)
a = np.maximum(0, X @ W1) @ W2
a_norm, _ = batchnorm_forward(a, gamma, beta, bn_param)

means, stds = a_norm.mean(axis=0), a_norm.std(axis=0)
print("After batch normalization (test mode):")
print("  means:", means)
print("  stds: ", stds)
check_close("means", means, reference_value(means), label="means error:")
check_close("stds", stds, reference_value(stds), label="stds error: ")

# %% tests="a1-bn-batchnorm_forward"

# %% [markdown]
# ## Batch normalization: backward pass
#
# Batch normalization is a composition of simple steps: a mean, a subtraction, a variance, a
# square root, a division, a scale and a shift. A good way to get its backward pass right is to
# draw this computation graph and send the gradient back through it one node at a time, exactly
# as backpropagation does through a network. Two things to watch:
#
# - `μ` and `σ²` depend on *every* example of the batch, so the gradient of one input `x_i`
#   collects contributions through them from all `N` outputs;
# - where a node's value is used by several later nodes (like `x - μ`, used both in the variance
#   and in `x̂`), the gradients arriving from each use add up.
#
# `dgamma` and `dbeta` are simpler: like the bias of an affine layer, they are used by every
# example, so their gradients are sums over the batch.
#
# We check the result against numerical gradients. Expect relative errors around `1e-9` or
# smaller.

# %% unit="a1-bn-batchnorm_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
N, D = 4, 5
x = 5 * np.random.randn(N, D) + 12
gamma = np.random.randn(D)
beta = np.random.randn(D)
dout = np.random.randn(N, D)

bn_param = {"mode": "train"}
dx_num = eval_numerical_gradient_array(lambda xx: batchnorm_forward(xx, gamma, beta, bn_param)[0], x, dout)
dgamma_num = eval_numerical_gradient_array(lambda gg: batchnorm_forward(x, gg, beta, bn_param)[0], gamma.copy(), dout)
dbeta_num = eval_numerical_gradient_array(lambda bb: batchnorm_forward(x, gamma, bb, bn_param)[0], beta.copy(), dout)

_, cache = batchnorm_forward(x, gamma, beta, bn_param)
dx, dgamma, dbeta = batchnorm_backward(dout, cache)
check_close("dx", dx, dx_num, like="x", label="dx error:    ")
check_close("dgamma", dgamma, dgamma_num, like="gamma")
check_close("dbeta", dbeta, dbeta_num, like="beta", label="dbeta error: ")

# %% tests="a1-bn-batchnorm_backward"

# %% [markdown]
# ## A closed-form backward pass
#
# The graph version works, but it spells out many intermediate arrays. With a little calculus the
# whole gradient of `x` collapses into one short expression, which is easier to read and faster
# to run. Look at one feature (one column) and drop the column index. With `N` values `x_i`:
#
# $$\mu = \frac{1}{N}\sum_i x_i, \qquad v = \frac{1}{N}\sum_i (x_i - \mu)^2, \qquad
#   \sigma = \sqrt{v + \epsilon}, \qquad y_i = \frac{x_i - \mu}{\sigma}.$$
#
# (`y` is the `x̂` of the forward pass.) Each `y_j` depends on `x_i` directly, through `μ` and
# through `σ`. The pieces you need:
#
# - $\dfrac{\partial \mu}{\partial x_i} = \dfrac{1}{N}$;
# - $\dfrac{\partial v}{\partial x_i} = \dfrac{2}{N}(x_i - \mu)$, because the deviations
#   $x_j - \mu$ sum to zero, so the path through $\mu$ cancels;
# - $\dfrac{\partial \sigma}{\partial x_i} = \dfrac{1}{2\sigma}\dfrac{\partial v}{\partial x_i}
#   = \dfrac{y_i}{N}$.
#
# Putting them into the quotient rule for $y_j = (x_j - \mu) / \sigma$ gives
#
# $$\frac{\partial y_j}{\partial x_i} = \frac{1}{\sigma}\left(\delta_{ij} - \frac{1}{N}
#   - \frac{y_i\, y_j}{N}\right),$$
#
# where $\delta_{ij}$ is 1 when $i = j$ and 0 otherwise. The upstream gradient with respect to
# `y` is `dout * γ`. Sum it against this Jacobian over `j` and you get `dx` as a combination of
# `dout`, its sum over the batch and the sum of `dout * x̂` over the batch — the last two are
# exactly `dbeta` and `dgamma`, which you compute anyway. Work it out on paper, then implement
# `batchnorm_backward_alt`; no loops are needed.

# %% unit="a1-bn-batchnorm_backward_alt"
# The build inlines the reference of this unit here.

# %% [markdown]
# Both versions should agree to about `1e-11` (they compute the same thing in a different
# order, so the last few digits may differ). The closed form is usually somewhat faster; how much
# depends on your machine and on how many steps your graph version takes, so treat the speedup
# as information, not as a pass mark.

# %% role="check"
np.random.seed(231)
N, D = 100, 500
x = 5 * np.random.randn(N, D) + 12
gamma = np.random.randn(D)
beta = np.random.randn(D)
dout = np.random.randn(N, D)

_, cache = batchnorm_forward(x, gamma, beta, {"mode": "train"})
repeats = 20
with Timer() as graph_time:
    for _ in range(repeats):
        dx1, dgamma1, dbeta1 = batchnorm_backward(dout, cache)
with Timer() as closed_form_time:
    for _ in range(repeats):
        dx2, dgamma2, dbeta2 = batchnorm_backward_alt(dout, cache)

print("dx difference:    ", rel_error(dx1, dx2))
print("dgamma difference:", rel_error(dgamma1, dgamma2))
print("dbeta difference: ", rel_error(dbeta1, dbeta2))
print(f"speedup: {graph_time.elapsed / closed_form_time.elapsed:.2f}x")

# %% tests="a1-bn-batchnorm_backward_alt"

# %% [markdown]
# ## Fully connected networks with batch normalization
#
# Time to put the layer into your network. The `FullyConnectedNet` you wrote already accepts
# `normalization='batchnorm'` (and `'layernorm'`, which comes later in this notebook); the
# branches that use it are the parts of the class marked `complete in BatchNormalization`. Go
# back to the `FullyConnectedNet` cell of **FullyConnectedNets.ipynb** and complete them:
#
# - in the constructor, give every hidden layer `i` a scale `gamma{i}` of ones and a shift
#   `beta{i}` of zeros, both of shape `(H_i,)`. The last affine layer, which produces the scores,
#   gets no normalization;
# - in `loss`, run each hidden layer as affine, then normalization, then ReLU. The helpers
#   `affine_norm_relu_forward` and `affine_norm_relu_backward` in the next cell do exactly that;
#   pass them the layer's `self.bn_params[i - 1]` (which carries that layer's running statistics)
#   and `self.normalization`, and store `gamma{i}` and `beta{i}` gradients in `grads`.
#
# The constructor already creates `self.bn_params`, and `loss` already switches the batchnorm
# layers between train and test mode. You do not need to import the helpers in the other
# notebook: when the class runs here, it finds them, and your `batchnorm_forward`, in this
# notebook. Save FullyConnectedNets.ipynb, then **re-run the setup cell of this notebook** so
# that it picks up the new version of the class.

# %% provide="dl.layer_utils:affine_norm_relu_forward,affine_norm_relu_backward"

# %% [markdown]
# The gradient check from the previous notebook, now with batch normalization. The initial
# losses should match the reference. Expect relative errors up to about `1e-4` for the weights
# (most are far smaller: with only two examples per batch the normalization makes the loss very
# curved, which costs the numerical gradient a few digits) and a few times `1e-8` or less for
# the biases, `gamma` and `beta`. The hidden layers' biases have gradients of almost exactly
# zero here, and rightly so: batch normalization subtracts the mean of each feature, so a
# constant added just before it changes nothing. Their printed errors only measure rounding.

# %% role="check"
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))

losses = []
for reg in [0, 3.14]:
    model = FullyConnectedNet(
        [H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2, dtype=np.float64,
        normalization="batchnorm",
    )
    loss = model.loss(X, y)[0]
    losses.append(loss)
    print(f"reg = {reg}: initial loss {loss:.6f}")
    check_model_gradients(model, X, y)

print("reference initial losses:", reference_value(losses))

# %% [markdown]
# ## Batch normalization in a deep network
#
# Now train two six-layer networks on 1000 images, one with batch normalization and one
# without, from the same initial weights (the cell seeds numpy before building each network, so
# both draw the same `W1, ..., W6`) and with the same settings. Watch the training loss in
# the live plot: the network with batch normalization should bring it down noticeably faster.
#
# Be honest with yourself about the validation accuracy, though. Both networks overfit 1000
# images quickly, and at this scale the normalized one is not clearly better on the validation
# set (it may even be slightly worse). Batch normalization mainly makes optimisation easier; the
# next experiments show where that pays off.

# %%
num_train = 1000
small_data = {
    "X_train": data["X_train"][:num_train],
    "y_train": data["y_train"][:num_train],
    "X_val": data["X_val"],
    "y_val": data["y_val"],
}
hidden_dims = [100] * 5
weight_scale = 2e-2
num_epochs = 1 if SMOKE else 10

np.random.seed(231)
bn_model = FullyConnectedNet(hidden_dims, weight_scale=weight_scale, normalization="batchnorm")
np.random.seed(231)  # the same weights again: only the normalization differs
model = FullyConnectedNet(hidden_dims, weight_scale=weight_scale, normalization=None)

dashboard = TrainingDashboard("Six-layer network with and without batch normalization")
solvers = {}
for label, net in [("with_norm", bn_model), ("baseline", model)]:
    print("Training", label)
    solver = Solver(
        net, small_data, num_epochs=num_epochs, batch_size=50, update_rule=adam,
        optim_config={"learning_rate": 1e-3}, verbose=True, print_every=20,
        callbacks=[dashboard.callback(label)],
    )
    solver.train()
    solvers[label] = solver
    print()

# %% [markdown]
# The same runs as a static figure: the loss per iteration, and the training and validation
# accuracy per epoch.

# %%
plot_solver_comparison({"baseline": solvers["baseline"], "with_norm": solvers["with_norm"]},
                       title="Six-layer network with and without batch normalization")
plt.show()

# %% [markdown]
# ## Batch normalization and weight initialisation
#
# In the previous notebook the five-layer network trained only if you found the right weight
# scale. Does batch normalization change that? The next cell trains, for each of 20 weight
# scales between `1e-4` and `1`, an eight-layer network with batch normalization and one without
# (both with Adam, on 1000 images for 10 epochs), and records each run's best validation
# accuracy, best training accuracy and final training loss. This takes a few minutes; the bar
# shows the progress.

# %%
sweep = weight_scale_sweep(data, FullyConnectedNet, update_rule=adam, smoke=SMOKE)

# %%
plot_weight_scale_sweep(sweep)
plt.show()

# %% [markdown]
# ### Inline question 1
#
# Describe the results of this experiment. How does the weight-initialisation scale affect the
# networks with and without batch normalization, and why?

# %% [markdown] question="a1-bn-q1"
# Without batch normalization only a narrow band of weight scales trains well. With scales that
# are too small, the signal shrinks at every one of the eight layers until the scores are nearly
# zero and the gradients vanish: the loss stays close to ln 10 ≈ 2.3 and the accuracy near
# chance. With scales that are too large, activations and scores grow layer after layer, the
# loss explodes and training is unstable.
#
# With batch normalization the accuracy and final loss are nearly flat over most of the range.
# Each layer's pre-activations are re-standardised to zero mean and unit variance whatever the
# scale of the weights before them, so the signal neither vanishes nor explodes on its way
# through the network, and the gradients keep a usable size too. Only at the extremes (extremely
# small scales, where the normalised signal is dominated by ε, or very large ones) does the
# normalized network degrade.

# %% [markdown]
# ## Batch normalization and batch size
#
# Batch normalization estimates its statistics from the minibatch, so the size of the batch
# should matter. The provided `run_batchsize_experiments` trains six-layer networks with batch
# normalization at batch sizes 5, 10 and 50, and a network without normalization at batch size 5
# as a baseline, all from the same initial weights (Adam with learning rate `10**-3.5`, 1000
# images, 10 epochs). It uses your `FullyConnectedNet` and your Adam.

# %%
dashboard = TrainingDashboard("Batch normalization at several batch sizes")
bn_solvers, baseline_solver, batch_sizes = run_batchsize_experiments(
    "batchnorm", data, FullyConnectedNet, update_rule=adam, smoke=SMOKE, callback=dashboard.callback,
)

# %%
plt.figure(figsize=(15, 10))
plt.subplot(2, 1, 1)
plot_training_history("Training accuracy (batch normalization)", "Epoch", baseline_solver, bn_solvers,
                      lambda s: s.train_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.subplot(2, 1, 2)
plot_training_history("Validation accuracy (batch normalization)", "Epoch", baseline_solver, bn_solvers,
                      lambda s: s.val_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Inline question 2
#
# Describe the results of this experiment. What does it suggest about the relationship between
# batch normalization and batch size? Why is this relationship observed?

# %% [markdown] question="a1-bn-q2"
# The larger the batch, the better batch normalization works: the network trained with batches
# of 50 reaches a clearly higher validation accuracy (about 0.35) than the one trained with
# batches of 5 (about 0.30).
#
# The reason is that the mean and variance are estimated from the minibatch. With 5 examples
# these estimates are very noisy, so the normalization of each example changes randomly from
# batch to batch. That makes training noisier, and it makes the statistics used at training
# time differ from the running averages used at test time: the network is evaluated under
# different conditions from those it was trained in. Larger batches give more accurate
# estimates, so both problems shrink.

# %% [markdown]
# ## Layer normalization
#
# Batch normalization ties every example to the rest of its batch. That is a problem when
# batches must be small (large models or large inputs that barely fit in memory), when examples
# have different lengths (sequences), or when a single example must be processed on its own.
#
# **Layer normalization** (Jimmy Lei Ba, Jamie Ryan Kiros and Geoffrey E. Hinton, *Layer
# Normalization*, 2016, arXiv:1607.06450) takes the other axis. It normalises each example over
# its own `D`
# features: for row `i` of `x`, the mean `μ_i` and variance `σ_i²` are taken over that row, and
#
# $$\hat{x}_i = \frac{x_i - \mu_i}{\sqrt{\sigma_i^2 + \epsilon}}, \qquad
#   \text{out}_i = \gamma \hat{x}_i + \beta .$$
#
# The learned `γ` and `β` are still one per feature, of shape `(D,)`. Because the statistics
# depend on nothing but the example itself, training and test mode are identical, there are no
# running averages, and the batch size plays no role. Layer normalization is the standard choice
# in sequence models and transformers, which you will meet later in the course.

# %% [markdown]
# ### Inline question 3
#
# Which of these preprocessing steps for images is analogous to batch normalization, which to
# layer normalization, and which to neither?
#
# 1. Rescale each image so that, within every row of pixels, the RGB values sum to 1.
# 2. Rescale each image so that all its RGB values together sum to 1.
# 3. Subtract the mean image of the data set from each image.
# 4. Set every RGB value to 0 or 1 depending on a threshold.

# %% [markdown] question="a1-bn-q3"
# Steps 1 and 2 are analogous to layer normalization: each uses statistics computed from one
# image only (a sum over the values of a pixel row, or over the whole image) to rescale that
# image, whatever the other images look like. Step 3 is analogous to batch normalization: the
# mean image is a statistic of each feature (pixel and channel) taken *across* the examples of
# the data set, and it is then applied to every image. Step 4 is neither: thresholding treats
# every value on its own and uses no statistics at all.

# %% [markdown]
# ## Layer normalization: forward and backward
#
# Implement `layernorm_forward`. Most of your batch normalization code carries over: the
# statistics are now taken along axis 1 instead of axis 0 (`keepdims=True` makes them broadcast
# back over the row). `ln_param` may hold `eps`; it has no mode and no running statistics, and
# any other key is ignored.

# %% unit="a1-bn-layernorm_forward"
# The build inlines the reference of this unit here.

# %% [markdown]
# We use the same two-layer construction as before, now with only 4 examples, and look at the
# statistics of each *row*. Before normalization you should see row means of about
# `[-59.07, -47.61, -43.31, -26.41]` and stds of about `[10.07, 28.39, 35.28, 4.02]`. After it,
# every row mean should be about 0 (or 5 with `β = 5`). The stds come out very slightly below 1
# (or 3): with only 3 features per row, the `ε` in the denominator is visible in the last digits.
# You should see about `[0.99999995, 0.99999999, 1.0, 0.99999969]` for `γ = 1` and
# `[2.99999985, 2.99999998, 2.99999999, 2.99999907]` for `γ = 3`.

# %% role="check"
np.random.seed(231)
N, D1, D2, D3 = 4, 50, 60, 3
X = np.random.randn(N, D1)
W1 = np.random.randn(D1, D2)
W2 = np.random.randn(D2, D3)
a = np.maximum(0, X @ W1) @ W2  # (N, D3)

print("Before layer normalization:")
print_mean_std(a, axis=1)

out, _ = layernorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})  # the mode is ignored
print("After layer normalization with gamma = 1, beta = 0:")
print_mean_std(out, axis=1)

out, _ = layernorm_forward(a, np.array([3.0, 3.0, 3.0]), np.array([5.0, 5.0, 5.0]), {})
print("After layer normalization with gamma = 3, beta = 5:")
print_mean_std(out, axis=1)

# %% tests="a1-bn-layernorm_forward"

# %% [markdown]
# Now `layernorm_backward`. The derivation of the closed form carries over with the axes
# swapped: the sums that give `dx` run over the `D` features of each example. `dgamma` and
# `dbeta` still sum over the batch, because `γ` and `β` are shared by all examples. Expect
# relative errors around `1e-9` or smaller.

# %% unit="a1-bn-layernorm_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
N, D = 4, 5
x = 5 * np.random.randn(N, D) + 12
gamma = np.random.randn(D)
beta = np.random.randn(D)
dout = np.random.randn(N, D)

ln_param = {}
dx_num = eval_numerical_gradient_array(lambda xx: layernorm_forward(xx, gamma, beta, ln_param)[0], x, dout)
dgamma_num = eval_numerical_gradient_array(lambda gg: layernorm_forward(x, gg, beta, ln_param)[0], gamma.copy(), dout)
dbeta_num = eval_numerical_gradient_array(lambda bb: layernorm_forward(x, gamma, bb, ln_param)[0], beta.copy(), dout)

_, cache = layernorm_forward(x, gamma, beta, ln_param)
dx, dgamma, dbeta = layernorm_backward(dout, cache)
check_close("dx", dx, dx_num, like="x", label="dx error:    ")
check_close("dgamma", dgamma, dgamma_num, like="gamma")
check_close("dbeta", dbeta, dbeta_num, like="beta", label="dbeta error: ")

# %% tests="a1-bn-layernorm_backward"

# %% [markdown]
# If you completed both normalization branches of `FullyConnectedNet` earlier, the network
# already supports layer normalization: the helpers pick `layernorm_forward` when
# `normalization='layernorm'`, and each layer's dict in `self.bn_params` is simply empty. Run
# the same gradient check with layer normalization. The initial losses should match the
# reference, and most errors should be `1e-7` or smaller. One or two may reach about `1e-5`:
# where a gradient is itself tiny (say `1e-6`), the rounding error of the numerical estimate is
# large compared with it, and the *relative* error looks worse than the gradient really is.

# %% role="check"
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))

losses = []
for reg in [0, 3.14]:
    model = FullyConnectedNet(
        [H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2, dtype=np.float64,
        normalization="layernorm",
    )
    loss = model.loss(X, y)[0]
    losses.append(loss)
    print(f"reg = {reg}: initial loss {loss:.6f}")
    check_model_gradients(model, X, y)

print("reference initial losses:", reference_value(losses))

# %% [markdown]
# The hidden checks of the normalization branches of your `FullyConnectedNet` (both batch and
# layer normalization) run here, after everything they use is defined.

# %% tests="a1-bn-fc_normalization"

# %% [markdown]
# ## Layer normalization and batch size
#
# Repeat the batch-size experiment with layer normalization. Since each example is normalised on
# its own, the batch size should matter much less than it did for batch normalization.

# %%
dashboard = TrainingDashboard("Layer normalization at several batch sizes")
ln_solvers, baseline_solver, batch_sizes = run_batchsize_experiments(
    "layernorm", data, FullyConnectedNet, update_rule=adam, smoke=SMOKE, callback=dashboard.callback,
)

# %%
plt.figure(figsize=(15, 10))
plt.subplot(2, 1, 1)
plot_training_history("Training accuracy (layer normalization)", "Epoch", baseline_solver, ln_solvers,
                      lambda s: s.train_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.subplot(2, 1, 2)
plot_training_history("Validation accuracy (layer normalization)", "Epoch", baseline_solver, ln_solvers,
                      lambda s: s.val_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Inline question 4
#
# When is layer normalization likely to work poorly, and why? Consider each of these settings:
#
# 1. a very deep network;
# 2. a very small dimension of the features being normalized;
# 3. a very high regularisation strength.

# %% [markdown] question="a1-bn-q4"
# 2 is the clear case. Layer normalization estimates a mean and a variance from the features of
# one example; with only a handful of features these estimates are very noisy (with two features,
# the normalised values are always about ±1, whatever the input), so the layer throws away most of
# the information in the example and the output is dominated by estimation noise.
#
# 3 can also hurt. A very strong L2 penalty drives the weights towards zero, so the
# pre-activations become tiny and nearly the same for every feature; normalising them then
# amplifies what little variation is left (and the ε term starts to matter), so the normalised
# signal becomes noisy or carries little information. The regularisation also fights the
# normalization, which undoes any shrinking of the weights.
#
# 1, depth alone, is not a problem: normalization in every layer is exactly what keeps the
# signal at a healthy scale through many layers, which is why deep transformers use it.
