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
# # Dropout
#
# A network with enough parameters can memorise its training set: the training accuracy climbs
# to 100% while the validation accuracy stalls. **Dropout** is a simple defence. During
# training, every hidden unit is switched off at random for each example, so the network cannot
# rely on any single unit being there; at test time every unit is used. (Dropout was introduced
# by Geoffrey E. Hinton, Nitish Srivastava, Alex Krizhevsky, Ilya Sutskever and Ruslan R.
# Salakhutdinov, *Improving neural networks by preventing co-adaptation of feature detectors*,
# 2012, arXiv:1207.0580, and studied at length by Nitish Srivastava, Geoffrey Hinton, Alex
# Krizhevsky, Ilya Sutskever and Ruslan Salakhutdinov, *Dropout: A Simple Way to Prevent Neural
# Networks from Overfitting*, Journal of Machine Learning Research, 2014.)
#
# You will
# - implement the forward and backward pass of (inverted) dropout;
# - add dropout to the `FullyConnectedNet` you wrote in FullyConnectedNets.ipynb;
# - train a network with and without dropout and compare how well each generalises.
#
# This notebook builds on your work in FullyConnectedNets.ipynb: complete and save that
# notebook first. Write your code only in the cells marked `YOUR CODE HERE`, and define any
# helper function inside the graded cell that uses it (a later notebook imports only the graded
# cells).

# %% role="setup"
import numpy as np
import matplotlib.pyplot as plt

from dl.data import get_cifar10_data
from dl.checking import check_close
from dl.gradcheck import check_model_gradients, eval_numerical_gradient_array
from dl.notebook_import import import_notebook, rebind
from dl.solver import Solver
from dl.utils import smoke_mode
from dl.vis import setup_notebook
from dl.widgets import TrainingDashboard

setup_notebook()
SMOKE = smoke_mode()  # DL_SMOKE=1: a small generated data set and short runs (for CI)

# Your work from FullyConnectedNets.ipynb (complete and save that notebook first).
fc = import_notebook("FullyConnectedNets.ipynb")
affine_forward, affine_backward = fc.affine_forward, fc.affine_backward
relu_forward, relu_backward, softmax_loss = fc.relu_forward, fc.relu_backward, fc.softmax_loss
affine_relu_forward, affine_relu_backward = fc.affine_relu_forward, fc.affine_relu_backward
adam = fc.adam
# Your FullyConnectedNet, calling the layers of this notebook (including the dropout you write below).
FullyConnectedNet = rebind(fc.FullyConnectedNet, globals())

data = get_cifar10_data()
for name, array in data.items():
    print(f"{name}: {array.shape}")

# %% [markdown]
# ## The idea
#
# In training mode, dropout keeps each activation with probability `p` and sets it to zero
# otherwise, drawing a fresh random mask for every example and every forward pass. In test
# mode it does nothing.
#
# There is a catch. If a unit is kept only a fraction `p` of the time, the next layer sees, on
# average, `p` times the activation it will see at test time. To keep the two modes on the same
# scale, **inverted dropout** divides the kept activations by `p` during training:
#
# `mask = (np.random.rand(*x.shape) < p) / p`, and `out = x * mask`.
#
# Then the expected value of `out` equals `x`, and test mode can simply return `x` unchanged.
#
# Conventions (the checks rely on them):
# - `dropout_param["p"]` is the probability of **keeping** a unit;
# - `dropout_param["mode"]` is `"train"` or `"test"`;
# - if `dropout_param` has a `"seed"`, call `np.random.seed(seed)` at the start of **every**
#   call (in both modes), so that runs can be reproduced;
# - draw the mask exactly as above, with one call to `np.random.rand` of the input's shape;
# - the output has the dtype of `x`; the cache is `(dropout_param, mask)` (`mask` is `None` in
#   test mode).
#
# ## Forward pass
#
# Implement `dropout_forward`.

# %% unit="a1-dropout-dropout_forward"
# The build inlines the reference of this unit here.

# %% [markdown]
# Run the check below. In training mode the mean of the output should stay close to the mean
# of the input (about 10), and the fraction of zeros should be close to `1 - p`. In test mode
# the output should equal the input exactly. The masks continue numpy's random stream from the
# seed at the top, so with the conventions above your numbers match the expected ones exactly.

# %% role="check"
np.random.seed(231)
x = np.random.randn(500, 500) + 10

train_means, zero_fractions = [], []
for p in [0.25, 0.4, 0.7]:
    out, _ = dropout_forward(x, {"mode": "train", "p": p})
    out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
    train_means.append(out.mean())
    zero_fractions.append((out == 0).mean())
    print(f"p = {p}")
    print("  mean of input:           ", x.mean())
    print("  mean of train-mode output:", out.mean())
    print("  mean of test-mode output: ", out_test.mean())
    print("  fraction of train-mode output set to zero:", (out == 0).mean())
    print("  fraction of test-mode output set to zero: ", (out_test == 0).mean())

print()
print("expected train-mode means: ", reference_value(train_means))
print("expected fractions of zeros:", reference_value(zero_fractions))
check_close("train_means", np.array(train_means), np.array(reference_value(train_means)), label="difference in means:")

# %% tests="a1-dropout-dropout_forward"

# %% [markdown]
# ## Backward pass
#
# During training, each output element is `x * mask`, so the gradient flows back through the
# same mask: `dx = dout * mask`. In test mode dropout is the identity, and so is its gradient.
#
# Implement `dropout_backward`. The seed makes the mask the same on every call, which is what
# lets the numerical gradient work through a random layer.

# %% unit="a1-dropout-dropout_backward"
# The build inlines the reference of this unit here.

# %% role="check"
np.random.seed(231)
x = np.random.randn(10, 10) + 10
dout = np.random.randn(10, 10)

dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
out, cache = dropout_forward(x, dropout_param)
dx = dropout_backward(dout, cache)
dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)

# The error should be around 1e-10 or less.
check_close("dx", dx, dx_num, like="x", label="dx relative error:")

# %% tests="a1-dropout-dropout_backward"

# %% [markdown]
# ### Inline question 1
#
# Suppose your training-mode forward pass kept each unit with probability `p` but did **not**
# divide the kept activations by `p`, and nothing else changed. What would go wrong, and why?

# %% [markdown] question="a1-dropout-q1"
# During training each activation is kept with probability p, so the next layer sees on average
# p·x. At test time nothing is dropped and it sees x: every layer after a dropout layer receives
# inputs on a larger scale than the one its weights were trained for, and the error compounds
# through the network. Dividing by p during training (inverted dropout) makes the expected
# training activation equal to x, so the test-time network needs no change; the alternative is
# to multiply by p at test time.

# %% [markdown]
# ## Fully connected nets with dropout
#
# Now go back to **FullyConnectedNets.ipynb** and complete the dropout branch of your
# `FullyConnectedNet` (look for the comment `complete in Dropout`):
#
# - when `dropout_keep_ratio < 1`, apply dropout after the ReLU of every hidden layer (after the
#   normalization, if there is one), all layers sharing `self.dropout_param`;
# - in the backward pass, run `dropout_backward` for each of them, in reverse order.
#
# `loss` already sets `self.dropout_param["mode"]`. Save that notebook, then re-run the setup
# cell of this one to import your updated class.
#
# Remember that a seeded dropout layer resets numpy's random stream each time it runs. In the
# check below the three models are built one after the other without reseeding, so the weights
# of the second model are drawn right after the first model's seeded dropout calls: the exact
# losses depend on doing everything in the order the conventions describe.
#
# Gradient errors around `1e-6` or less are good; `W2` may reach about `1e-5` without dropout.

# %% role="check"
np.random.seed(231)
N, D, H1, H2, C = 2, 15, 20, 30, 10
X = np.random.randn(N, D)
y = np.random.randint(C, size=(N,))

losses = []
for keep_ratio in [1, 0.75, 0.5]:
    print("Running check with dropout_keep_ratio =", keep_ratio)
    model = FullyConnectedNet(
        [H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64,
        dropout_keep_ratio=keep_ratio, seed=123,
    )
    loss = model.loss(X, y)[0]
    losses.append(loss)
    print("  initial loss:", loss)
    check_model_gradients(model, X, y)
    print()

print("reference initial losses:", reference_value(losses))

# %% tests="a1-dropout-fc_dropout"

# %% [markdown]
# ## Dropout as a regulariser
#
# Train two two-layer networks on only 500 images, from the same initial weights (numpy is
# seeded before each is built): one without dropout and one that keeps a quarter of its hidden
# units. With so little data the first network will memorise the training set. Watch the two
# runs as they train, then compare the curves.

# %%
num_train = 100 if SMOKE else 500
small_data = {
    "X_train": data["X_train"][:num_train],
    "y_train": data["y_train"][:num_train],
    "X_val": data["X_val"],
    "y_val": data["y_val"],
}

dashboard = TrainingDashboard("With and without dropout")
solvers = {}
for keep_ratio in [1, 0.25]:
    label = f"{keep_ratio:.2f} dropout_keep_ratio"
    print("Training with", label)
    np.random.seed(231)
    model = FullyConnectedNet([500], dropout_keep_ratio=keep_ratio)
    solver = Solver(
        model, small_data, num_epochs=3 if SMOKE else 25, batch_size=100, update_rule=adam,
        optim_config={"learning_rate": 5e-4}, verbose=True, print_every=100,
        callbacks=[dashboard.callback(label)],
    )
    solver.train()
    solvers[keep_ratio] = solver
    print()

# %%
fig, (ax_train, ax_val) = plt.subplots(2, 1, figsize=(15, 12))
for keep_ratio, solver in solvers.items():
    label = f"{keep_ratio:.2f} dropout_keep_ratio"
    ax_train.plot(solver.train_acc_history, "o", label=label)
    ax_val.plot(solver.val_acc_history, "o", label=label)
ax_train.set_title("Train accuracy")
ax_val.set_title("Validation accuracy")
for ax in (ax_train, ax_val):
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy")
    ax.legend(ncol=2, loc="lower right")
plt.show()

# %% [markdown]
# ### Inline question 2
#
# Compare the two sets of curves. What do they tell you about dropout as a regulariser?

# %% [markdown] question="a1-dropout-q2"
# Without dropout the network memorises the 500 training images: training accuracy reaches 100%
# while validation accuracy levels off far below it. With dropout the training accuracy rises
# more slowly and stays lower, but validation accuracy is as good or better, so the gap between
# training and validation accuracy is much smaller. Dropout makes it harder to fit the training
# set by co-adapted units, which is exactly what regularisation should do: trade some training
# fit for better generalisation.
