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
# # PyTorch
#
# In assignment 1 you wrote every layer, its gradient and the update rule by hand in numpy. That
# is the best way to understand a network, and the worst way to build a large one: every new
# layer needs a backward pass, and numpy cannot use a GPU. **Deep learning frameworks** take that
# work away. You write the forward computation; the framework records it and computes the
# gradients for you (*automatic differentiation*), runs on CPUs and GPUs alike, and provides
# ready-made layers, losses and optimizers.
#
# This notebook uses **PyTorch**, an open-source framework whose central object, the *tensor*,
# is a numpy-like array that can live on a GPU and remembers how it was computed, so that
# `loss.backward()` fills in the gradient of every tensor that asked for one
# (`requires_grad=True`). The official tutorials and API reference at pytorch.org are the place
# to learn more; keep the documentation of `torch.nn` open while you work.
#
# You will build the same small ConvNet three times, each time with more help from PyTorch, and
# then design your own network for CIFAR-10.
#
# Write your code only in the cells marked `YOUR CODE HERE`, and define any helper function inside
# the graded cell that uses it.

# %% [markdown]
# ## Contents
#
# - Part I: data — CIFAR-10 as PyTorch datasets and loaders.
# - Part II: functional ("barebones") PyTorch — tensors and autograd, parameters handled by hand.
# - Part III: the `nn.Module` API — layers own their parameters, `torch.optim` updates them.
# - Part IV: the `nn.Sequential` API — a stack of layers in one expression.
# - Part V: the CIFAR-10 challenge — design and train your own network (at least 70% accuracy).
#
# The three levels trade flexibility for convenience:
#
# | API | Flexibility | Convenience |
# |---|---|---|
# | functional (tensors and `torch.nn.functional`) | high | low |
# | `nn.Module` | high | medium |
# | `nn.Sequential` | low | high |

# %% role="setup"
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

from dl.artifacts import save_torch_model
from dl.checking import check_close
from dl.data import cifar10_loaders
from dl.utils import get_device, reset_seed, smoke_mode
from dl.vis import setup_notebook
from dl.widgets import TrainingDashboard

setup_notebook()
SMOKE = smoke_mode()  # DL_SMOKE=1: a small generated data set and short runs (for CI)

# %% [markdown]
# ## Device and dtype
#
# Every tensor lives on a *device*. `get_device()` picks a CUDA GPU if there is one, then an
# Apple GPU (MPS), else the CPU; the code below runs on any of them. A GPU makes training here
# many times faster: on Colab choose *Runtime → Change runtime type → GPU*.

# %%
device = get_device()
dtype = torch.float32  # the dtype of all the tensors we train
print_every = 100  # iterations between printed losses and validation checks
checks = f"Check (every {print_every} iterations and at each epoch's end)"  # the x axis of the accuracy plots
print("using device:", device)

# %% [markdown]
# # Part I: data
#
# `cifar10_loaders` returns three `DataLoader`s over CIFAR-10. Each yields batches `(x, y)`: `x`
# float32 of shape (64, 3, 32, 32), normalised per channel with the data set's mean and standard
# deviation, and `y` int64 labels of shape (64,).
#
# - `loader_train`: the first 49,000 training images, in an order that a seeded generator
#   shuffles again every epoch;
# - `loader_val`: the last 1,000 training images, for choosing hyper-parameters;
# - `loader_test`: the 10,000 test images. Use them **once**, at the very end.

# %%
batch_size = 32 if SMOKE else 64  # smoke mode: the small generated data set in more, smaller steps
loader_train, loader_val, loader_test = cifar10_loaders(batch_size=batch_size, seed=0)
print("training batches per epoch:", len(loader_train))
print("validation images:", len(loader_val.sampler), "test images:", len(loader_test.dataset))

# %% [markdown]
# # Part II: functional PyTorch
#
# At this level PyTorch is numpy with two extras: tensors can live on a GPU, and a tensor created
# with `requires_grad=True` makes PyTorch record every operation that uses it. After
# `loss.backward()`, its `.grad` holds the gradient of the loss with respect to it. We keep the
# parameters in a list, write the network as a function of the inputs and the parameters, and
# update the parameters ourselves.
#
# ### Flatten
#
# A fully connected layer needs each example as one vector. `flatten` reshapes `(N, C, H, W)` to
# `(N, C·H·W)`; `view` returns the same data with another shape, without copying.

# %% provide="dl.nn.basics:flatten"

# %%
x = torch.arange(12).view(2, 1, 3, 2)
print("before flattening:\n", x)
print("after flattening:\n", flatten(x))

# %% [markdown]
# ### A two-layer network
#
# `two_layer_fc` is a fully connected ReLU network without biases. `w1` has shape (D, H) and
# `w2` shape (H, C): a fully connected weight is stored **(in, out)** here, so the layer is
# `x @ w`. Note that there is no backward function: autograd computes the gradients.

# %% provide="dl.nn.basics:two_layer_fc"

# %% role="check"
# Shape check: 64 examples of 50 features, a hidden layer of 42 units, 10 classes.
x = torch.zeros((64, 50), dtype=dtype)
w1 = torch.zeros((50, 42), dtype=dtype)
w2 = torch.zeros((42, 10), dtype=dtype)
scores = two_layer_fc(x, [w1, w2])
print(scores.size())  # torch.Size([64, 10])

# %% [markdown]
# ### A three-layer ConvNet
#
# Implement `three_layer_convnet`, the forward pass of
#
# 1. a convolution with `conv_w1` (C1, 3, KH1, KW1) and bias `conv_b1` (C1,), stride 1, then ReLU;
# 2. a convolution with `conv_w2` (C2, C1, KH2, KW2) and bias `conv_b2` (C2,), stride 1, then ReLU;
# 3. a fully connected layer with `fc_w` (C2·H·W, num_classes), stored (in, out) like above, and
#    `fc_b` (num_classes,).
#
# Both convolutions pad with zeros so that the image keeps its size H × W: with an odd kernel of
# size K that means padding `K // 2` on each side (2 for the 5×5 kernels used below, 1 for the
# 3×3 ones). Read the padding from the weights' shapes rather than writing the numbers in. Use
# `F.conv2d` and `F.relu` from `torch.nn.functional`, and `flatten`.

# %% unit="a2-pt-three_layer_convnet"

# %% role="check"
# Shape check: 64 images, conv 5x5 with 6 channels, conv 3x3 with 9 channels, 10 classes.
x = torch.zeros((64, 3, 32, 32), dtype=dtype)
conv_w1 = torch.zeros((6, 3, 5, 5), dtype=dtype)
conv_b1 = torch.zeros((6,), dtype=dtype)
conv_w2 = torch.zeros((9, 6, 3, 3), dtype=dtype)
conv_b2 = torch.zeros((9,), dtype=dtype)
fc_w = torch.zeros((9 * 32 * 32, 10), dtype=dtype)
fc_b = torch.zeros((10,), dtype=dtype)
scores = three_layer_convnet(x, [conv_w1, conv_b1, conv_w2, conv_b2, fc_w, fc_b])
print(scores.size())  # torch.Size([64, 10])

# %% role="check"
# Value check on random inputs (float64, 8x8 images): the error should be about 1e-10 or less.
generator = torch.Generator().manual_seed(0)
shapes = [(4, 3, 5, 5), (4,), (5, 4, 3, 3), (5,), (5 * 8 * 8, 10), (10,)]
params = [0.3 * torch.randn(shape, generator=generator, dtype=torch.float64) for shape in shapes]
x = torch.randn((2, 3, 8, 8), generator=generator, dtype=torch.float64)
check_close("scores", three_layer_convnet(x, params), reference_value(three_layer_convnet(x, params)))

# %% [markdown]
# ### Initialisation
#
# `random_weight` draws a weight with **Kaiming initialisation** (Kaiming He, Xiangyu Zhang,
# Shaoqing Ren and Jian Sun, *Delving Deep into Rectifiers: Surpassing Human-Level Performance on
# ImageNet Classification*, 2015, arXiv:1502.01852): a normal distribution with mean 0 and
# standard deviation √(2 / fan_in), where fan_in is the number of inputs of one output unit —
# `shape[0]` for a fully connected weight stored (in, out), `in × KH × KW` for a convolution
# weight (out, in, KH, KW). This keeps the scale of the activations roughly constant from layer
# to layer in a ReLU network. `zero_weight` makes biases. Both return tensors with
# `requires_grad=True`.

# %% provide="dl.nn.basics:random_weight,zero_weight"

# %%
reset_seed(0)
print(random_weight((3, 5)))

# %% [markdown]
# ### Checking accuracy
#
# `check_accuracy_functional` runs the network on a whole split without recording gradients
# (`torch.no_grad()`): we only need the scores, and recording the graph would cost memory.
# `report_accuracy` prints and returns the result.

# %% provide="dl.nn.basics:report_accuracy,check_accuracy_functional"

# %% [markdown]
# ### The training loop
#
# `train_functional` runs one epoch of stochastic gradient descent: for each batch it computes
# the cross-entropy loss, calls `loss.backward()`, and then, inside `torch.no_grad()` (the update
# itself must not be recorded), moves every parameter against its gradient and sets the gradient
# back to zero (PyTorch *adds* new gradients to `.grad`). Every `print_every` iterations it checks
# the validation accuracy. The `callback` receives the loss of every iteration and every
# validation accuracy: here, a `TrainingDashboard` draws them live.

# %% provide="dl.nn.basics:train_functional"

# %% [markdown]
# ### Train the two-layer network
#
# With 4,000 hidden units and learning rate 1e-2, one epoch should reach more than 40% validation
# accuracy.

# %%
reset_seed(0)
part2 = TrainingDashboard("Part II: functional networks", check_label=checks)
hidden_layer_size = 400 if SMOKE else 4000  # smoke mode: a narrower layer, the same network
learning_rate = 1e-2
w1 = random_weight((3 * 32 * 32, hidden_layer_size), device=device, dtype=dtype)
w2 = random_weight((hidden_layer_size, 10), device=device, dtype=dtype)
train_functional(two_layer_fc, [w1, w2], learning_rate, loader_train, loader_val, print_every,
                 callback=functools.partial(part2.record, "two-layer"))

# %% [markdown]
# ### Train the ConvNet
#
# Implement `init_three_layer_convnet_params`: the six parameters of `three_layer_convnet` for
# 3 × 32 × 32 images — a 5×5 convolution with `channel_1` filters, a 3×3 convolution with
# `channel_2` filters, a fully connected layer to `num_classes` scores. Weights from
# `random_weight`, biases from `zero_weight`, all on `device` with `dtype`. One epoch of training
# with learning rate 3e-3 should then give more than 42% validation accuracy.

# %% unit="a2-pt-init_three_layer_convnet_params"

# %% role="check"
reset_seed(0)
params = init_three_layer_convnet_params(channel_1=32, channel_2=16, num_classes=10)
print([tuple(p.shape) for p in params])
print("all require grad:", all(p.requires_grad for p in params))

# %%
reset_seed(0)
params = init_three_layer_convnet_params(channel_1=32, channel_2=16, num_classes=10, device=device, dtype=dtype)
train_functional(three_layer_convnet, params, 3e-3, loader_train, loader_val, print_every,
                 callback=functools.partial(part2.record, "three-layer ConvNet"))

# %% [markdown]
# # Part III: the `nn.Module` API
#
# Keeping track of every parameter by hand does not scale. A subclass of `nn.Module` creates its
# layers in `__init__` (each an `nn.Module` that owns its parameters, such as `nn.Linear` and
# `nn.Conv2d`) and says in `forward` how to apply them; `model.parameters()` lists them all, and
# an optimizer from `torch.optim` updates them. The recipe:
#
# 1. subclass `nn.Module`, call `super().__init__()` first, and assign the layers as attributes;
# 2. write `forward(self, x)`;
# 3. make an optimizer over `model.parameters()`;
# 4. per batch: `optimizer.zero_grad()`, `loss.backward()`, `optimizer.step()`.
#
# Note that `nn.Linear` stores its weight **(out, in)** and computes `x @ weight.T + bias`. Here is
# the two-layer network again, with `nn.init.kaiming_normal_` for its weights.

# %% provide="dl.nn.basics:TwoLayerFC"

# %% role="check"
x = torch.zeros((64, 50), dtype=dtype)
model = TwoLayerFC(50, 42, 10)
print(model(x).size())  # torch.Size([64, 10])

# %% [markdown]
# ### A three-layer ConvNet module
#
# Implement `ThreeLayerConvNet`: `conv1` a 5×5 convolution from `in_channel` to `channel_1`
# channels with padding 2, `conv2` a 3×3 convolution to `channel_2` channels with padding 1,
# `fc` a fully connected layer from `channel_2·32·32` features to `num_classes` scores (use these
# attribute names). Initialise the three weights with `nn.init.kaiming_normal_` and the three
# biases with zeros. `forward` applies conv1, ReLU, conv2, ReLU, flatten, fc.

# %% unit="a2-pt-ThreeLayerConvNet"

# %% role="check"
x = torch.zeros((64, 3, 32, 32), dtype=dtype)
model = ThreeLayerConvNet(in_channel=3, channel_1=12, channel_2=8, num_classes=10)
print(model(x).size())  # torch.Size([64, 10])
print("parameters:", sum(p.numel() for p in model.parameters()))  # 3*12*25+12 + 12*8*9+8 + 8*32*32*10+10

# %% [markdown]
# ### Accuracy and training, module edition
#
# `check_accuracy` switches the model to evaluation mode with `model.eval()` (layers such as
# dropout and batch normalization behave differently at test time) and `train_module` switches it
# back with `model.train()` before every step.

# %% provide="dl.nn.basics:check_accuracy,train_module"

# %% [markdown]
# ### Train the two-layer module
#
# The same network as in Part II, with `optim.SGD` doing the update: more than 40% after one epoch.

# %%
reset_seed(0)
part3 = TrainingDashboard("Part III: nn.Module", check_label=checks)
model = TwoLayerFC(3 * 32 * 32, hidden_layer_size, 10)
optimizer = optim.SGD(model.parameters(), lr=1e-2)
train_module(model, optimizer, loader_train, loader_val, epochs=1, print_every=print_every,
             callback=functools.partial(part3.record, "two-layer"))

# %% [markdown]
# ### Train the ConvNet module
#
# Implement `make_convnet_and_optimizer`: a `ThreeLayerConvNet` for 3-channel images with 32 and
# 16 channels and 10 classes, and plain SGD (no momentum) over its parameters with the given
# learning rate. One epoch should give more than 45% validation accuracy.

# %% unit="a2-pt-module_model_and_optimizer"

# %%
reset_seed(0)
model, optimizer = make_convnet_and_optimizer(learning_rate=3e-3)
train_module(model, optimizer, loader_train, loader_val, epochs=1, print_every=print_every,
             callback=functools.partial(part3.record, "three-layer ConvNet"))

# %% [markdown]
# # Part IV: the `nn.Sequential` API
#
# When a network is a plain stack of layers, `nn.Sequential` builds it in one expression: no
# class, no `forward`. `Flatten` is `flatten` as a layer. The example below is the two-layer
# network once more, trained with SGD with **Nesterov momentum** (Ilya Sutskever, James Martens,
# George Dahl and Geoffrey Hinton, *On the importance of initialization and momentum in deep
# learning*, ICML 2013): the gradient is taken at the point momentum is about to carry the
# parameters to, which damps oscillations.

# %% provide="dl.nn.basics:Flatten"

# %%
reset_seed(0)
part4 = TrainingDashboard("Part IV: nn.Sequential", check_label=checks)
model = nn.Sequential(
    Flatten(),
    nn.Linear(3 * 32 * 32, hidden_layer_size),
    nn.ReLU(),
    nn.Linear(hidden_layer_size, 10),
)
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, nesterov=True)
train_module(model, optimizer, loader_train, loader_val, epochs=1, print_every=print_every,
             callback=functools.partial(part4.record, "two-layer"))

# %% [markdown]
# ### A Sequential ConvNet
#
# Implement `build_sequential_convnet`: the ConvNet of Part III (3 → 32 channels 5×5 with
# padding 2, ReLU, 32 → 16 channels 3×3 with padding 1, ReLU, Flatten, Linear to 10 classes) as an
# `nn.Sequential` with PyTorch's default initialisation, and `optim.SGD` with learning rate 1e-2,
# momentum 0.9 and Nesterov momentum. One epoch should give more than 55% validation accuracy.

# %% unit="a2-pt-build_sequential_convnet"

# %%
reset_seed(0)
model, optimizer = build_sequential_convnet()
print(model)
train_module(model, optimizer, loader_train, loader_val, epochs=1, print_every=print_every,
             callback=functools.partial(part4.record, "three-layer ConvNet"))

# %% [markdown]
# # Part V: the CIFAR-10 challenge
#
# Now design your own network and reach **at least 70% validation accuracy within 10 epochs**.
# Write `build_challenge_model()`, which returns your untrained model; the cell after it trains
# it and saves it. The grader rebuilds your model with `build_challenge_model()`, loads the saved
# weights and measures their accuracy on held-back CIFAR-10 test images: full marks from 70%,
# partial credit from 60%. So `build_challenge_model()` must build exactly the network you
# trained, and take no arguments.
#
# **Ideas to try.**
# - Filter sizes and numbers: small 3×3 filters stacked are cheaper than one large one; more
#   filters give more capacity.
# - Pooling: halve the image with max-pooling after a few convolutions.
# - Batch normalization after each convolution (Sergey Ioffe and Christian Szegedy, *Batch
#   Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift*, 2015,
#   arXiv:1502.03167) makes deeper networks train quickly.
# - Architectures: a few blocks of `[conv-batchnorm-relu] × 2 - pool`, then one or two fully
#   connected layers; or global average pooling before the classifier.
# - Optimizers: SGD with Nesterov momentum, or Adam (Diederik P. Kingma and Jimmy Ba, *Adam: A
#   Method for Stochastic Optimization*, 2014, arXiv:1412.6980); a learning rate that decays
#   (`torch.optim.lr_scheduler`).
# - Regularisation: weight decay, dropout; data augmentation with `dl.data.transforms`
#   (`RandomCrop(32, padding=4)`, `RandomHorizontalFlip()`), passed as
#   `cifar10_loaders(train_transform=...)` so that only the training images are augmented.
#
# **Training tips.** Check that the loss falls within a few hundred iterations before a long run;
# try hyper-parameters on short runs first; the dashboard shows when the validation accuracy
# stops improving. Use the validation set to choose, never the test set.
#
# **Going further.** Residual connections (Kaiming He, Xiangyu Zhang, Shaoqing Ren and Jian Sun,
# *Deep Residual Learning for Image Recognition*, 2015, arXiv:1512.03385), other optimizers,
# ensembles of several networks.

# %% unit="a2-pt-challenge"

# %%
reset_seed(0)
epochs = 4 if SMOKE else 10  # smoke mode: 4 epochs of the small generated data set
model = build_challenge_model()
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, nesterov=True)
challenge = TrainingDashboard("Part V: challenge", check_label=checks)
val_acc = train_module(model, optimizer, loader_train, loader_val, epochs=epochs, print_every=print_every,
                       callback=functools.partial(challenge.record, "challenge"))
print("validation accuracy per epoch:", [round(acc, 4) for acc in val_acc])
save_torch_model(model, "a2_cifar_challenge", log={"val_acc": val_acc})

# %% tests="a2-pt-challenge"

# %% [markdown]
# ### Inline question
#
# **Describe what you did.** Your architecture, the optimiser and learning-rate schedule, the
# regularisation or augmentation you used, what helped and what did not, and your final validation
# accuracy.

# %% [markdown] question="a2-pt-q1"
# Key points for the rubric: the architecture is described precisely enough to rebuild it (layers,
# channels, kernel sizes, pooling, normalization); the optimiser, learning rate, schedule and
# number of epochs are given; regularisation and augmentation are named (or their absence); at
# least one comparison says what helped or did not, with the validation accuracies it rests on;
# the final validation accuracy is stated and matches the training log. The reference design (two
# blocks of conv-batchnorm-relu twice and max-pooling, 32 then 64 channels, SGD with Nesterov
# momentum, learning rate 1e-2, 10 epochs) reaches about 78% validation accuracy.

# %% [markdown]
# ### Test-set accuracy
#
# Run this once, when you are done: the test accuracy of your final model.

# %%
check_accuracy(loader_test, model)
