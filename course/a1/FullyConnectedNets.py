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
# # Fully connected networks
#
# In this notebook you build a neural network out of small, reusable pieces. Every layer is a
# pair of functions: a **forward** pass that turns inputs into outputs and remembers what it
# will need later (its *cache*), and a **backward** pass that turns the gradient of the loss
# with respect to the outputs into gradients with respect to the inputs and weights.
#
# Once the pieces work, you assemble them into a classifier of any depth, train it with
# different update rules, and tune it to at least 50% validation accuracy on CIFAR-10.
#
# You will
# - implement affine and ReLU layers and the softmax loss, and check their gradients numerically;
# - write `FullyConnectedNet`, a network with any number of hidden layers and L2 regularisation;
# - implement SGD with momentum, RMSProp and Adam, and compare them;
# - train the best model you can and save it for grading.
#
# Write your code only in the cells marked `YOUR CODE HERE`. Every check cell seeds its own
# random numbers, so you can re-run any of them on its own.
#
# Keep each graded function whole in its own cell. If you want a helper function, define it
# *inside* the cell of the graded function that uses it (in the same cell, above the graded
# function). The later notebooks of this assignment, and the grader, take only the graded cells
# from this notebook: a helper defined in a cell of its own works here, but is missing there, and
# the function that calls it fails with a `NameError`.

# %% role="setup"
import numpy as np
import matplotlib.pyplot as plt

from dl.data import get_cifar10_data
from dl.checking import check_close
from dl.gradcheck import check_model_gradients, eval_numerical_gradient, eval_numerical_gradient_array
from dl.models.fc_net import save_fc_net
from dl.optim import sgd
from dl.solver import Solver
from dl.utils import smoke_mode
from dl.vis import plot_solver_comparison, setup_notebook
from dl.widgets import TrainingDashboard

setup_notebook()
SMOKE = smoke_mode()  # DL_SMOKE=1: a small generated data set and short runs (for CI)

data = get_cifar10_data()
for name, array in data.items():
    print(f"{name}: {array.shape}")

# %% [markdown]
# ## The modular layer API
#
# Each layer you write follows the same contract:
#
# ```python
# out, cache = layer_forward(x, w)      # cache: whatever the backward pass needs
# dx, dw = layer_backward(dout, cache)  # dout has the shape of out; dx of x; dw of w
# ```
#
# The cache is the only thing the two halves share. Because every layer keeps this promise,
# a network is just a sequence of forward calls whose caches are replayed backwards — which is
# all backpropagation is.
#
# ## Affine layer: forward
#
# An affine (fully connected) layer multiplies each input by a weight matrix and adds a bias.
# Inputs may arrive with any shape `(N, d_1, ..., d_k)` — for example images `(N, 3, 32, 32)` —
# so first view each example as one row of `D = d_1 * ... * d_k` numbers. With `w` of shape
# `(D, M)` and `b` of shape `(M,)` the output has shape `(N, M)`.
#
# Implement `affine_forward`. Reshaping should not copy or modify the caller's array.

# %% unit="a1-fc-affine_forward"
# The build inlines the reference of this unit here.

# %% [markdown]
# Check your implementation against values computed by the reference. The difference should be
# around `1e-9` or smaller.

# %% role="check"
x = np.linspace(-0.1, 0.5, num=240).reshape(2, 4, 5, 6)
w = np.linspace(-0.2, 0.3, num=360).reshape(120, 3)
b = np.linspace(-0.3, 0.1, num=3)

out, _ = affine_forward(x, w, b)
correct_out = reference_value(affine_forward(x, w, b)[0])
check_close("out", out, correct_out, label="affine_forward difference:")

# %% tests="a1-fc-affine_forward"

# %% [markdown]
# ## Affine layer: backward
#
# Given the upstream gradient `dout` of shape `(N, M)`, the chain rule gives
# `dx = dout @ w.T` (reshaped back to the shape of `x`), `dw = x2d.T @ dout` and
# `db = dout.sum(axis=0)`. Check the shapes: each gradient has the shape of the thing it is
# the gradient of.
#
# We test backward passes with **numerical gradients**: nudge each input element by a tiny
# `h` in both directions and see how the output changes. If the analytic and numerical
# gradients agree to about `1e-10`, the backward pass is almost certainly right.

# %% unit="a1-fc-affine_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
x = np.random.randn(10, 2, 3)
w = np.random.randn(6, 5)
b = np.random.randn(5)
dout = np.random.randn(10, 5)

dx_num = eval_numerical_gradient_array(lambda xx: affine_forward(xx, w, b)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda ww: affine_forward(x, ww, b)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda bb: affine_forward(x, w, bb)[0], b, dout)

_, cache = affine_forward(x, w, b)
dx, dw, db = affine_backward(dout, cache)

check_close("dx", dx, dx_num, like="x")
check_close("dw", dw, dw_num, like="w")
check_close("db", db, db_num, like="b")

# %% tests="a1-fc-affine_backward"

# %% [markdown]
# ## ReLU
#
# The rectified linear unit keeps positive values and zeroes the rest: `max(0, x)`, element by
# element. Its gradient passes `dout` through where `x > 0` and blocks it elsewhere. At exactly
# `x = 0` the function has a kink; we use gradient 0 there.

# %% unit="a1-fc-relu_forward"
# The build inlines the reference of this unit here.

# %% role="check"
x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)

out, _ = relu_forward(x)
correct_out = reference_value(relu_forward(x)[0])
check_close("out", out, correct_out, like="x", label="relu_forward difference:")  # about 1e-8 or less

# %% tests="a1-fc-relu_forward"

# %% unit="a1-fc-relu_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
x = np.random.randn(10, 10)
dout = np.random.randn(*x.shape)

dx_num = eval_numerical_gradient_array(lambda xx: relu_forward(xx)[0], x, dout)
_, cache = relu_forward(x)
dx = relu_backward(dout, cache)
check_close("dx", dx, dx_num, like="x")  # about 1e-12

# %% tests="a1-fc-relu_backward"

# %% [markdown]
# ## Sandwich layers
#
# Some layer sequences appear so often that it pays to give them a name. The provided
# `affine_relu_forward` runs your affine layer and then your ReLU, and keeps both caches;
# `affine_relu_backward` undoes them in reverse order. They call *your* functions above, so
# this check tests the combination.

# %% provide="dl.layer_utils:affine_relu_forward,affine_relu_backward"

# %% role="check"
np.random.seed(231)
x = np.random.randn(2, 3, 4)
w = np.random.randn(12, 10)
b = np.random.randn(10)
dout = np.random.randn(2, 10)

out, cache = affine_relu_forward(x, w, b)
dx, dw, db = affine_relu_backward(dout, cache)

dx_num = eval_numerical_gradient_array(lambda xx: affine_relu_forward(xx, w, b)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda ww: affine_relu_forward(x, ww, b)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda bb: affine_relu_forward(x, w, bb)[0], b, dout)

check_close("dx", dx, dx_num, like="x")
check_close("dw", dw, dw_num, like="w")
check_close("db", db, db_num, like="b")

# %% [markdown]
# ## Softmax loss
#
# A classifier outputs one score per class. The softmax turns the scores of an example into
# probabilities `p = exp(s) / sum(exp(s))`, and the loss is the average negative log
# probability of the correct classes. Its gradient with respect to the scores is
# `(p - onehot(y)) / N`.
#
# Exponentials overflow quickly (`exp(1000)` is infinite in float64). Subtracting each row's
# maximum before exponentiating changes nothing mathematically and keeps every number finite.
#
# With tiny random scores every class is about equally likely, so the loss should be close to
# `ln(10) ≈ 2.3` for 10 classes.

# %% unit="a1-fc-softmax_loss"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
num_classes, num_inputs = 10, 50
x = 0.001 * np.random.randn(num_inputs, num_classes)
y = np.random.randint(num_classes, size=num_inputs)

loss, dx = softmax_loss(x, y)
dx_num = eval_numerical_gradient(lambda xx: softmax_loss(xx, y)[0], x, verbose=False)
print("loss:", loss, "(reference:", reference_value(softmax_loss(x, y)[0]), ")")
check_close("dx", dx, dx_num, like="x")  # about 1e-8

# %% tests="a1-fc-softmax_loss"

# %% [markdown]
# ## A fully connected network of any depth
#
# Now put the layers together. `FullyConnectedNet` has `L = len(hidden_dims) + 1` affine
# layers, a ReLU after every hidden one, and a softmax loss on top:
#
# `{affine - relu} x (L - 1) - affine - softmax`
#
# Conventions (the checks rely on them):
# - parameters are `W1 ... WL` and `b1 ... bL` in `self.params`;
# - draw the weights in order `W1, W2, ...` as `weight_scale * np.random.randn(in, out)`,
#   and set biases to zero; then cast every parameter to `dtype`;
# - `loss(X)` without labels returns the scores; with labels it returns the loss and a dict of
#   gradients with the same keys as `self.params`;
# - the loss adds `0.5 * reg * sum ||W_i||^2`; only weights are regularised.
#
# The constructor already accepts options for batch normalization and dropout. The parts of the
# class marked `complete in BatchNormalization` and `complete in Dropout` are stubs that raise
# `NotImplementedError`: leave them as they are for now. You will come back to this cell to
# complete them while you work through BatchNormalization.ipynb and Dropout.ipynb, and only then
# can a network be built with `normalization="batchnorm"` or `dropout_keep_ratio < 1`.

# %% unit="a1-fc-FullyConnectedNet"
# The build inlines the reference of this unit here.

# %% [markdown]
# First, the initial loss: with small weights and no regularisation it should be close to
# `ln(10)`, and regularisation should make it clearly larger. Then a gradient check of every
# parameter. Errors around `1e-7` or below are good; `W2` without regularisation may reach
# about `1e-5`, because numerical gradients are less accurate near ReLU kinks.

# %% role="check"
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))

losses = []
for reg in [0, 3.14]:
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2, dtype=np.float64)
    loss = model.loss(X, y)[0]
    losses.append(loss)
    print(f"reg = {reg}: initial loss {loss:.6f}")
    check_model_gradients(model, X, y)

print("reference initial losses:", reference_value(losses))

# %% tests="a1-fc-FullyConnectedNet"

# %% [markdown]
# ## Overfitting a tiny data set
#
# A good sanity check before any long run: a network with enough capacity should be able to
# memorise a handful of examples and reach 100% training accuracy. If it cannot, something is
# wrong with the model, the gradients or the learning rate.
#
# Train a three-layer network on 50 images. Adjust the learning rate and the weight
# initialisation scale until it reaches 100% training accuracy within 20 epochs. The live plot
# shows the loss as training runs.
#
# Start from `weight_scale = 1e-2` and `learning_rate = 1e-3`, and change one of them at a time,
# by factors of about 3 to 10:
# - if the loss hardly moves from about `2.3`, the steps are too small: raise the learning rate;
# - if the loss jumps around, grows, or becomes `inf` or `nan`, lower the learning rate (or the
#   weight scale: large weights give huge scores and a huge loss);
# - if the loss falls but the training accuracy stalls below 100%, try a somewhat larger learning
#   rate or weight scale.

# %% role="exercise"
num_train = 50
small_data = {
    "X_train": data["X_train"][:num_train],
    "y_train": data["y_train"][:num_train],
    "X_val": data["X_val"],
    "y_val": data["y_val"],
}

# Set weight_scale and learning_rate (suggested start: weight_scale = 1e-2, learning_rate = 1e-3).
### BEGIN SOLUTION
weight_scale = 1e-2
learning_rate = 1e-2
### END SOLUTION

np.random.seed(231)
model = FullyConnectedNet([100, 100], weight_scale=weight_scale, dtype=np.float64)
dashboard = TrainingDashboard("Three-layer net on 50 images")
solver = Solver(
    model, small_data, print_every=10, num_epochs=5 if SMOKE else 20, batch_size=25,
    update_rule="sgd", optim_config={"learning_rate": learning_rate}, callbacks=[dashboard],
)
solver.train()

# %% [markdown]
# Now do the same with a five-layer network. You will probably find that it is much pickier
# about the initialisation scale. Look for a setting that reaches 100% and *stays* there.
#
# Start from the values that worked for three layers, then try larger weight scales (between
# `1e-2` and `1e-1`) with learning rates between `1e-3` and `5e-2`. With too small a scale the
# signal fades over five layers and the loss stays at about `2.3`; with too large a one the first
# losses are huge.

# %% role="exercise"
# Set weight_scale and learning_rate (suggested start: the three-layer values, then a larger weight_scale).
### BEGIN SOLUTION
weight_scale = 3.5e-2
learning_rate = 2e-2
### END SOLUTION

np.random.seed(231)
model = FullyConnectedNet([100, 100, 100, 100], weight_scale=weight_scale, dtype=np.float64)
dashboard = TrainingDashboard("Five-layer net on 50 images")
solver = Solver(
    model, small_data, print_every=10, num_epochs=5 if SMOKE else 20, batch_size=25,
    update_rule="sgd", optim_config={"learning_rate": learning_rate}, callbacks=[dashboard],
)
solver.train()

# %% [markdown]
# ### Inline question 1
#
# While overfitting the small data set, which network — three layers or five — was more
# sensitive to the weight initialisation scale? Why do you think that is?

# %% [markdown] question="a1-fc-q1"
# The five-layer network. Each layer multiplies the size of the signal (and, going back, of the
# gradient) by a factor that depends on the weight scale, so with more layers the factors
# compound: a slightly too small scale makes activations and gradients vanish, a slightly too
# large one makes the scores explode. The range of scales that trains well is narrower for the
# deeper network.

# %% [markdown]
# ## Update rules
#
# So far we used plain stochastic gradient descent, `w -= learning_rate * dw`. Better update
# rules converge faster and are less sensitive to the learning rate. Every rule in `dl.optim`
# shares one interface:
#
# ```python
# next_w, config = rule(w, dw, config)
# ```
#
# `config` holds the hyperparameters and any state the rule keeps between steps (a velocity,
# moving averages). Fill in missing defaults with `config.setdefault(...)` and store the new
# state back in `config`.
#
# ### SGD with momentum
#
# Momentum keeps a velocity, a running blend of past steps: `v = momentum * v - learning_rate
# * dw`, then `next_w = w + v`. Along directions where the gradient keeps its sign the steps add
# up; where it oscillates they cancel. Defaults: `learning_rate=1e-2`, `momentum=0.9`, and a
# zero velocity.

# %% unit="a1-fc-sgd_momentum"
# The build inlines the reference of this unit here.

# %% role="check"
N, D = 4, 5
w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)

next_w, config = sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v.copy()})
expected_next_w = reference_value(sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v.copy()})[0])
expected_velocity = reference_value(sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v.copy()})[1]["velocity"])
check_close("next_w", next_w, expected_next_w, like="w")  # about 1e-8
check_close('config["velocity"]', config["velocity"], expected_velocity, like="w", label="velocity error:")

# %% tests="a1-fc-sgd_momentum"

# %% [markdown]
# Compare plain SGD with SGD+momentum on a six-layer network. Momentum should bring the loss
# down visibly faster.

# %%
num_train = 400 if SMOKE else 4000
small_data = {
    "X_train": data["X_train"][:num_train],
    "y_train": data["y_train"][:num_train],
    "X_val": data["X_val"],
    "y_val": data["y_val"],
}

solvers = {}
dashboard = TrainingDashboard("Update rules")
for name, rule in [("sgd", sgd), ("sgd_momentum", sgd_momentum)]:
    print("Running with", name)
    np.random.seed(231)
    model = FullyConnectedNet([100] * 5, weight_scale=5e-2)
    solver = Solver(
        model, small_data, num_epochs=5, batch_size=100, update_rule=rule,
        optim_config={"learning_rate": 5e-3}, verbose=True, print_every=40,
        callbacks=[dashboard.callback(name)],
    )
    solver.train()
    solvers[name] = solver
    print()

# %% [markdown]
# ### RMSProp and Adam
#
# Both rules give every parameter its own step size by dividing by a running average of
# squared gradients, so parameters with large, noisy gradients take smaller steps.
#
# **RMSProp** was proposed by Tijmen Tieleman and Geoffrey Hinton in 2012, in lecture notes that
# were never published as a paper. It keeps a running average of the squared gradient:
# `cache = decay_rate * cache + (1 - decay_rate) * dw**2`, then
# `next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)`. Defaults: `learning_rate=1e-2`,
# `decay_rate=0.99`, `epsilon=1e-8`, zero cache.
#
# **Adam** (Diederik P. Kingma and Jimmy Ba, *Adam: A Method for Stochastic Optimization*, 2014,
# arXiv:1412.6980) also keeps a running average `m` of the gradient itself (like momentum), and
# corrects both averages for starting at zero. Count the step first — `t += 1` — then
# `m = beta1 * m + (1 - beta1) * dw`, `v = beta2 * v + (1 - beta2) * dw**2`,
# `m_hat = m / (1 - beta1**t)`, `v_hat = v / (1 - beta2**t)` and
# `next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)`. Defaults:
# `learning_rate=1e-3`, `beta1=0.9`, `beta2=0.999`, `epsilon=1e-8`, zero `m` and `v`, `t=0`.

# %% unit="a1-fc-rmsprop"
# The build inlines the reference of this unit here.

# %% unit="a1-fc-adam"
# The build inlines the reference of this unit here.

# %% role="check"
N, D = 4, 5
w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)

next_w, config = rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache.copy()})
expected_next_w = reference_value(rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache.copy()})[0])
expected_cache = reference_value(rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache.copy()})[1]["cache"])
check_close("next_w", next_w, expected_next_w, like="w", label="RMSProp next_w error:")  # about 1e-7
check_close('config["cache"]', config["cache"], expected_cache, like="w", label="RMSProp cache error:")

# %% role="check"
N, D = 4, 5
w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)


def adam_config():
    return {"learning_rate": 1e-2, "m": m.copy(), "v": v.copy(), "t": 5}


next_w, config = adam(w, dw, adam_config())
expected_next_w = reference_value(adam(w, dw, adam_config())[0])
expected_m = reference_value(adam(w, dw, adam_config())[1]["m"])
expected_v = reference_value(adam(w, dw, adam_config())[1]["v"])
check_close("next_w", next_w, expected_next_w, like="w", label="Adam next_w error:")  # about 1e-7
check_close('config["m"]', config["m"], expected_m, like="w", label="Adam m error:")
check_close('config["v"]', config["v"], expected_v, like="w", label="Adam v error:")
print("Adam t after the step:", config["t"], "(should be 6)")

# %% tests="a1-fc-rmsprop"

# %% tests="a1-fc-adam"

# %% [markdown]
# Train the same network with RMSProp and Adam and compare all four rules.

# %%
learning_rates = {"rmsprop": 1e-4, "adam": 1e-3}
for name, rule in [("rmsprop", rmsprop), ("adam", adam)]:
    print("Running with", name)
    np.random.seed(231)
    model = FullyConnectedNet([100] * 5, weight_scale=5e-2)
    solver = Solver(
        model, small_data, num_epochs=5, batch_size=100, update_rule=rule,
        optim_config={"learning_rate": learning_rates[name]}, verbose=True, print_every=40,
        callbacks=[dashboard.callback(name)],
    )
    solver.train()
    solvers[name] = solver
    print()

plot_solver_comparison(solvers, title="Four update rules")
plt.show()

# %% [markdown]
# ### Inline question 2
#
# AdaGrad (John Duchi, Elad Hazan and Yoram Singer, *Adaptive Subgradient Methods for Online
# Learning and Stochastic Optimization*, Journal of Machine Learning Research, 2011) keeps a
# running *sum* of squared gradients, `cache += dw**2`, and divides each step
# by `sqrt(cache)`. Over a long run its steps shrink towards zero. Why? Does Adam have the
# same problem?

# %% [markdown] question="a1-fc-q2"
# The accumulated sum only grows, so the denominator increases at every step and the effective
# learning rate decays monotonically until learning stalls. Adam (like RMSProp) uses
# exponentially decaying averages instead of a sum, so old gradients are forgotten and the
# denominator tracks the recent gradient size; with bias correction its step size does not
# collapse over time.

# %% [markdown]
# ## Train a good model
#
# Train the best fully connected model you can on CIFAR-10 and store it in `best_model`. The
# target is **at least 50% validation accuracy** on the full training set (55% is within
# reach). Try a few hidden-layer sizes, learning rates, regularisation strengths and weight
# scales; Adam with a learning-rate decay per epoch is a good starting point. Start with short
# runs to rule out bad settings, then train the promising ones longer.
#
# Batch normalization and dropout, which you meet in the next two notebooks, often help here.
# You can come back to this cell once you have done them: the cell below brings your
# `batchnorm_forward`, `layernorm_forward`, `dropout_forward` and their backward passes from
# BatchNormalization.ipynb and Dropout.ipynb into this notebook, together with the provided
# `affine_norm_relu_forward` and `affine_norm_relu_backward`, so that your `FullyConnectedNet`
# can run with `normalization="batchnorm"` (or `"layernorm"`) and `dropout_keep_ratio < 1`.
# Until you have completed those notebooks, *and* the branches marked `complete in
# BatchNormalization` and `complete in Dropout` in your `FullyConnectedNet` cell above, the
# layers and the branches are stubs: a network using them raises `NotImplementedError`, and
# plain networks (the default `normalization=None`, `dropout_keep_ratio=1`) are all you can
# train. Re-run the cell below after you change those notebooks.
#
# The last lines save your model to `artifacts/a1_best_fc.npz`; the grader measures its
# accuracy from that file, so run them after training.

# %%
from dl import layer_utils
from dl.notebook_import import import_notebook, rebind

bn = import_notebook("BatchNormalization.ipynb")
batchnorm_forward, batchnorm_backward = bn.batchnorm_forward, bn.batchnorm_backward
layernorm_forward, layernorm_backward = bn.layernorm_forward, bn.layernorm_backward
dropout = import_notebook("Dropout.ipynb")
dropout_forward, dropout_backward = dropout.dropout_forward, dropout.dropout_backward
# The provided sandwich affine - normalization - ReLU, calling the layers of this notebook:
affine_norm_relu_forward = rebind(layer_utils.affine_norm_relu_forward, globals())
affine_norm_relu_backward = rebind(layer_utils.affine_norm_relu_backward, globals())

# %% unit="a1-fc-best_model"
best_model = None
### BEGIN SOLUTION
configs = [
    {"hidden_dims": [512, 256], "learning_rate": 1e-3, "reg": 1e-3, "weight_scale": 2e-2},
    {"hidden_dims": [256, 256], "learning_rate": 5e-4, "reg": 5e-4, "weight_scale": 2e-2},
    {"hidden_dims": [512, 256], "learning_rate": 1e-3, "reg": 1e-3, "weight_scale": 2e-2,
     "normalization": "batchnorm", "dropout_keep_ratio": 0.9},
]
num_epochs = 2 if SMOKE else 15
search = TrainingDashboard("Hyperparameter search")
results = []
best_val = -1.0
for i, config in enumerate(configs):
    np.random.seed(i)
    model = FullyConnectedNet(
        config["hidden_dims"], reg=config["reg"], weight_scale=config["weight_scale"],
        normalization=config.get("normalization"), dropout_keep_ratio=config.get("dropout_keep_ratio", 1),
    )
    solver = Solver(
        model, data, update_rule=adam, optim_config={"learning_rate": config["learning_rate"]},
        lr_decay=0.95, num_epochs=num_epochs, batch_size=200, verbose=False,
        callbacks=[search.callback(f"config {i}")],
    )
    solver.train()
    results.append((config, solver.best_val_acc))
    if solver.best_val_acc > best_val:
        best_val, best_model = solver.best_val_acc, model

print(f"{'hidden dims':<14} {'lr':>8} {'reg':>8} {'scale':>8} {'norm':>10} {'keep':>5} {'val acc':>8}")
for config, val_acc in results:
    print(f"{str(config['hidden_dims']):<14} {config['learning_rate']:8.0e} {config['reg']:8.0e} "
          f"{config['weight_scale']:8.0e} {str(config.get('normalization')):>10} "
          f"{config.get('dropout_keep_ratio', 1):5.2f} {val_acc:8.3f}")
plt.scatter([c["learning_rate"] for c, _ in results], [acc for _, acc in results])
plt.xscale("log")
plt.xlabel("learning rate")
plt.ylabel("validation accuracy")
plt.show()
### END SOLUTION

save_fc_net("a1_best_fc", best_model)

# %% [markdown]
# ## Evaluate the best model
#
# Finally, measure the best model on the validation set and, once, on the test set. The test
# set is for reporting, not for choosing hyperparameters.

# %%
y_val_pred = np.argmax(best_model.loss(data["X_val"]), axis=1)
y_test_pred = np.argmax(best_model.loss(data["X_test"]), axis=1)
print("Validation set accuracy:", (y_val_pred == data["y_val"]).mean())
print("Test set accuracy:", (y_test_pred == data["y_test"]).mean())
