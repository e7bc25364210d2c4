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
# # Network Visualization
#
# So far we trained networks by differentiating a loss with respect to the **weights**. In this
# notebook the weights stay frozen and we differentiate with respect to the **input image**
# instead. The gradient of a class score with respect to the pixels tells us which pixels
# matter for that class, how to change the image so that the network changes its mind, and what
# kind of image the network would consider a perfect example of a class.
#
# You will
# - compute **saliency maps**, which show the pixels a class score is most sensitive to (Karen
#   Simonyan, Andrea Vedaldi and Andrew Zisserman, *Deep Inside Convolutional Networks:
#   Visualising Image Classification Models and Saliency Maps*, 2013, arXiv:1312.6034);
# - make **fooling images**: an imperceptible change that makes the network predict any class
#   you choose (Christian Szegedy, Wojciech Zaremba, Ilya Sutskever, Joan Bruna, Dumitru Erhan,
#   Ian Goodfellow and Rob Fergus, *Intriguing properties of neural networks*, 2013,
#   arXiv:1312.6199);
# - synthesise **class visualisations**, images the network scores highly for one class, by
#   gradient ascent on the image with the regularisers of Jason Yosinski, Jeff Clune, Anh
#   Nguyen, Thomas Fuchs and Hod Lipson, *Understanding Neural Networks Through Deep
#   Visualization*, 2015, arXiv:1506.06579.
#
# All three use SqueezeNet 1.1, a small network pretrained on ImageNet that runs well on a CPU
# (Forrest N. Iandola, Song Han, Matthew W. Moskewicz, Khalid Ashraf, William J. Dally and Kurt
# Keutzer, *SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size*,
# 2016, arXiv:1602.07360). Write your code only in the cells marked `YOUR CODE HERE`.

# %% role="setup"
import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from dl.checking import check_close
from dl.data import load_imagenet_val
from dl.models.squeezenet import SQUEEZENET_MEAN, SQUEEZENET_STD, squeezenet1_1
from dl.netvis import SmallConvNet, blur_image, deprocess, jitter, preprocess, random_small_conv_net, rescale, top_classes
from dl.utils import get_device, seeded_generator, smoke_mode
from dl.vis import setup_notebook
from dl.widgets import Explorer, ImageGrid

setup_notebook()
SMOKE = smoke_mode()  # DL_SMOKE=1: a random SqueezeNet, 3 generated images and short runs (for CI)
device = get_device()
dtype = torch.float32

# %% [markdown]
# ## The pretrained model
#
# `squeezenet1_1(weights="default")` loads the published ImageNet weights (the first call
# downloads them; `python -m dl.data.download squeezenet1_1` fetches them ahead of time). We
# only look at the network, so we put it in evaluation mode and tell PyTorch that its weights
# need no gradients. In smoke mode the weights are random: every picture below is then noise,
# but the code runs the same way.

# %%
model = squeezenet1_1(weights="default").to(device=device, dtype=dtype)
model.eval()
for param in model.parameters():
    param.requires_grad = False
print(f"SqueezeNet 1.1 with {sum(p.numel() for p in model.parameters()):,} parameters on {device}")

# %% [markdown]
# ## ImageNet validation images
#
# A few images of the ImageNet validation set, with their classes. `preprocess` turns an image
# into the network's input: a float tensor (1, 3, H, W), scaled to [0, 1] and normalised with
# the per-channel mean and standard deviation the network was trained with; `deprocess` undoes
# it for display.

# %%
X, y, class_names = load_imagenet_val(num=3 if SMOKE else 5)
plt.figure(figsize=(12, 6))
for i in range(len(X)):
    plt.subplot(1, len(X), i + 1)
    plt.imshow(X[i])
    plt.title(class_names[y[i]])
    plt.axis("off")
plt.gcf().tight_layout()
plt.show()

# %% [markdown]
# ## Saliency maps
#
# The saliency of a pixel is how strongly the score of the correct class reacts to it. Compute
# the gradient of the **unnormalised** score of the correct class with respect to the image;
# the saliency map is the absolute value of this gradient, maximised over the three colour
# channels: for an image (3, H, W) it has shape (H, W).
#
# Three details matter:
# - call `model.eval()` first (SqueezeNet's classifier contains dropout, which must be off);
# - the scores of a batch have shape (N, C), and you need `scores[i, y[i]]` for every `i`.
#   `Tensor.gather` picks them without a loop (demonstrated below);
# - image `i`'s score depends on image `i` only, so the gradient of the *sum* of the correct
#   scores gives every image's gradient in one backward pass.

# %%
torch.manual_seed(0)
scores_demo = torch.randn(4, 5)
y_demo = torch.tensor([1, 2, 1, 3])
print(scores_demo)
print(y_demo)
print(scores_demo.gather(1, y_demo.view(-1, 1)).squeeze(1))  # scores_demo[i, y_demo[i]] for each i

# %% [markdown]
# Implement `compute_saliency_maps`.

# %% unit="a2-nv-compute_saliency_maps"
# The build inlines the reference of this unit here.

# %% [markdown]
# A check on a tiny random network (it starts in training mode: your function must switch it to
# evaluation mode). The error should be around `1e-10` or smaller.

# %% role="check"
check_model = random_small_conv_net(0, dtype=torch.float64).train()
X_check = torch.randn(3, 3, 12, 12, generator=seeded_generator(0), dtype=torch.float64)
y_check = torch.tensor([1, 4, 7])
saliency_check = compute_saliency_maps(X_check, y_check, check_model)
check_close("saliency", saliency_check, reference_value(saliency_check))

# %% tests="a2-nv-compute_saliency_maps"

# %% [markdown]
# Now the saliency maps of the validation images: images above, saliency below.

# %%
X_tensor = torch.cat([preprocess(x) for x in X]).to(device=device, dtype=dtype)
y_tensor = torch.as_tensor(y, device=device)
saliency = compute_saliency_maps(X_tensor, y_tensor, model).cpu().numpy()
with torch.no_grad():
    scores = model(X_tensor).cpu()

N = len(X)
plt.figure(figsize=(12, 5))
for i in range(N):
    plt.subplot(2, N, i + 1)
    plt.imshow(X[i])
    plt.axis("off")
    plt.title(class_names[y[i]])
    plt.subplot(2, N, N + i + 1)
    plt.imshow(saliency[i], cmap=plt.cm.hot)
    plt.axis("off")
plt.gcf().tight_layout()
plt.show()

# %% [markdown]
# Pick an image to see its saliency map next to the five classes the network finds most likely.
# (The explorer needs a live Jupyter kernel; a saved copy of the notebook shows the first image.)

# %%
def draw_saliency(fig, values):
    i = values["image"]
    if not fig.axes:
        fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.4]})
    ax_image, ax_saliency, ax_top = fig.axes
    for ax in fig.axes:
        ax.clear()
    ax_image.imshow(X[i])
    ax_image.set_title(class_names[y[i]])
    ax_saliency.imshow(saliency[i], cmap=plt.cm.hot)
    ax_saliency.set_title("saliency")
    for ax in (ax_image, ax_saliency):
        ax.axis("off")
    top = top_classes(scores[i], class_names)
    ax_top.barh(range(5)[::-1], [p for _, p in top])
    ax_top.set_yticks(range(5)[::-1], [name[:24] for name, _ in top])
    ax_top.set_xlim(0, 1)
    ax_top.set_xlabel("probability")
    ax_top.set_title("top 5 classes")
    fig.tight_layout()


image_choice = ipywidgets.Dropdown(options=[(f"{i}: {class_names[y[i]]}", i) for i in range(N)], value=0, description="image")
Explorer({"image": image_choice}, draw_saliency, figsize=(12, 4))

# %% [markdown] question="a2-nv-q1"
# **Inline Question 1.** A classmate proposes to do gradient ascent on the image using the
# saliency map itself as the update direction, instead of the gradient. Would that work? Why or
# why not?
#
# **Your answer:**

# %% [markdown]
# ## Fooling images
#
# Given an image and a target class, change the image a little at a time until the network
# predicts the target class. Starting from a copy of the image, repeat (at most 100 times):
# compute the scores; stop as soon as the predicted class is the target; otherwise take one
# gradient ascent step on the **unnormalised score of the target class**, with a normalised
# step `X += learning_rate * g / ||g||_2` (`learning_rate = 1`, `||g||_2` the L2 norm of the
# whole gradient), and zero the gradient. If the gradient is exactly zero (SqueezeNet's scores
# come out of a ReLU, and a class whose ReLU is off everywhere has a flat score), no step can
# help: stop there instead of dividing by zero. Call `model.eval()` first, as before. The network
# is usually fooled in well under 100 steps, by a change you cannot see.
#
# Implement `make_fooling_image`.

# %% unit="a2-nv-make_fooling_image"
# The build inlines the reference of this unit here.

# %% [markdown]
# A check on the tiny random network: the fooling image should equal the reference's (error
# around `1e-10` or smaller), and the network should predict the target on it.

# %% role="check"
check_model = random_small_conv_net(0, dtype=torch.float64).train()
X_check = torch.randn(1, 3, 12, 12, generator=seeded_generator(1), dtype=torch.float64)
fooling_check = make_fooling_image(X_check, 3, check_model)
check_close("fooling image", fooling_check, reference_value(fooling_check), like="X")
print("predicted class on the fooling image:", check_model.eval()(fooling_check).argmax().item(), "(target 3)")

# %% tests="a2-nv-make_fooling_image"

# %% [markdown]
# Now fool SqueezeNet: make it classify the first image as a stingray (class 6).

# %%
idx = 0
target_y = 6
max_iterations = 10 if SMOKE else 100
X_fooling = make_fooling_image(X_tensor[idx : idx + 1], target_y, model, max_iterations=max_iterations)
with torch.no_grad():
    predicted = model(X_fooling).argmax().item()
if SMOKE and predicted != target_y:
    print(f"smoke mode: the random network was not fooled in {max_iterations} iterations (no assert)")
else:
    assert predicted == target_y, "The network is not fooled!"

# %% [markdown]
# The original image, the fooling image, their difference, and the difference magnified ten
# times.

# %%
def show_fooling(X_original, X_fool, label, target):
    panels = [
        (deprocess(X_original.cpu()), class_names[label]),
        (deprocess(X_fool.cpu()), class_names[target]),
        (deprocess((X_fool - X_original).cpu()), "Difference"),
        (deprocess(10 * (X_fool - X_original).cpu(), should_rescale=False), "Magnified difference (10x)"),
    ]
    plt.figure(figsize=(12, 6))
    for k, (image, title) in enumerate(panels):
        plt.subplot(1, 4, k + 1)
        plt.imshow(image)
        plt.title(title)
        plt.axis("off")
    plt.gcf().tight_layout()
    plt.show()


show_fooling(X_tensor[idx : idx + 1], X_fooling, y[idx], target_y)

# %% [markdown]
# Watch the iterations: pick an image and a target class, then move the slider through the
# steps of `make_fooling_image`. `ScoreRecorder` wraps the network and keeps the image and the
# predicted class of every forward pass your function makes (one per iteration).

# %%
class ScoreRecorder(nn.Module):
    """``model``, keeping the input (detached) and predicted class of every forward pass."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.history = []

    def forward(self, x):
        scores = self.model(x)
        self.history.append((x.detach().clone(), scores.argmax(dim=1).item()))
        return scores


fooling_runs = {}


def fooling_history(i, target):
    if (i, target) not in fooling_runs:
        recorder = ScoreRecorder(model)
        make_fooling_image(X_tensor[i : i + 1], target, recorder, max_iterations=max_iterations)
        fooling_runs[i, target] = recorder.history
    return fooling_runs[i, target]


def draw_fooling(fig, values):
    i, target = values["image"], values["target"]
    history = fooling_history(i, target)
    step = min(values["iteration"], len(history) - 1)
    image, predicted = history[step]
    original = X_tensor[i : i + 1]
    if not fig.axes:
        fig.subplots(1, 3)
    for ax, picture, title in zip(
        fig.axes,
        (deprocess(original.cpu()), deprocess(image), deprocess(10 * (image - original.cpu()), should_rescale=False)),
        (class_names[y[i]], f"iteration {step} of {len(history) - 1}\npredicted: {class_names[predicted][:28]}",
         "difference (10x)"),
    ):
        ax.clear()
        ax.imshow(picture)
        ax.set_title(title, color="green" if title.endswith(class_names[target][:28]) else "black")
        ax.axis("off")
    fig.tight_layout()


targets = [6, 78, 187, 366, 604, 683]
Explorer(
    {
        "image": ipywidgets.Dropdown(options=[(f"{i}: {class_names[y[i]]}", i) for i in range(N)], value=0, description="image"),
        "target": ipywidgets.Dropdown(options=[(f"{t}: {class_names[t]}", t) for t in targets], value=6, description="target"),
        "iteration": ipywidgets.IntSlider(value=max_iterations, min=0, max=max_iterations, description="iteration"),
    },
    draw_fooling,
    figsize=(12, 5),
)

# %% [markdown]
# ## Class visualisation
#
# Start from random noise and change the image, step after step, so that the network's score for
# a class `y` grows, while an L2 penalty keeps the image small. That is gradient ascent on
#
# $$ I^* = \arg\max_I \; s_y(I) - \lambda \|I\|_2^2, $$
#
# where $s_y(I)$ is the **unnormalised** score of class `y` (not a log-probability) and
# $\|I\|_2^2$ the sum of the squares of all pixel values. Each step is normalised:
# `img.data += learning_rate * g / ||g||_2`, with `g` the gradient of the objective with
# respect to the image. Update `img` **in place** (its `.data`) and zero `img.grad` at the end,
# so that the next step starts from a clean gradient. Call `model.eval()` first.
#
# Implement `class_visualization_update_step`.

# %% unit="a2-nv-class_visualization_update_step"
# The build inlines the reference of this unit here.

# %% [markdown]
# A check on the tiny random network: two steps from the same image. Errors around `1e-10` or
# smaller.

# %% role="check"
check_model = random_small_conv_net(0, dtype=torch.float64).train()
img_check = torch.randn(1, 3, 12, 12, generator=seeded_generator(2), dtype=torch.float64).requires_grad_(True)
img_before = img_check
class_visualization_update_step(img_check, check_model, 5, 0.5, 2.0)
check_close("img after one step", img_check.detach(), reference_value(img_check.detach()), like="img")
class_visualization_update_step(img_check, check_model, 5, 0.5, 2.0)
check_close("img after two steps", img_check.detach(), reference_value(img_check.detach()), like="img")
print("updated in place:", img_check is img_before, "| gradient zeroed:", img_check.grad is None or not img_check.grad.any().item())

# %% tests="a2-nv-class_visualization_update_step"

# %% [markdown]
# The driver below makes the picture legible with three regularisers besides the L2 penalty:
# it shifts the image by a random jitter before each step (and back after), clamps every pixel
# to the range of a real image, and blurs the image a little every few steps.

# %% provide="dl.netvis:create_class_visualization"
# The build inlines the provided code here.

# %% [markdown]
# Visualise class 76 (tarantula). The image updates in place as the ascent goes on. (In smoke
# mode the random network has no idea what a tarantula is: we visualise the class it scores
# highest on noise instead, and run 5 iterations.)

# %%
num_iterations = 5 if SMOKE else 100


def visualize(target):
    grid = ImageGrid(figsize=(4, 4))

    def show(img, t):
        grid.update(np.asarray(deprocess(img.cpu()))[None] / 255.0, title=f"{class_names[target]}\nIteration {t} / {num_iterations}")

    create_class_visualization(target, model, device, dtype, num_iterations=num_iterations, show_every=max(1, num_iterations // 4),
                               generator=seeded_generator(target), callback=show)


def smoke_target(rank):
    with torch.no_grad():
        noise = torch.randn(1, 3, 224, 224, generator=seeded_generator(0)).to(device=device, dtype=dtype)
        return int(model(noise)[0].argsort(descending=True)[rank])


visualize(smoke_target(0) if SMOKE else 76)

# %% [markdown]
# Now a class of your choice (try 78 tick, 187 Yorkshire terrier, 683 oboe, 366 gorilla or 604
# hourglass), or a random one:

# %%
target_y = smoke_target(1) if SMOKE else int(torch.randint(1000, (1,), generator=seeded_generator(1)))
print(target_y, class_names[target_y])
visualize(target_y)
