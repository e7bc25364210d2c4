"""Bugs and correct variants of NetworkVisualization's units (dl/netvis.py)."""
from dl import netvis
from tests.autograder.bug_tables import Variant, edit

SALIENCY = "a2-nv-compute_saliency_maps"
FOOLING = "a2-nv-make_fooling_image"
STEP = "a2-nv-class_visualization_update_step"

BUGS = [
    # compute_saliency_maps
    Variant(SALIENCY, "model.eval() forgotten", (edit(netvis.compute_saliency_maps, ("    model.eval()\n", "")),),
            ("saliency differs from the expected value",)),
    Variant(SALIENCY, "no absolute value", (edit(netvis.compute_saliency_maps, ("X.grad.abs().max(", "X.grad.max(")),),
            ("take the absolute value before the max over channels",)),
    Variant(SALIENCY, "mean over channels instead of max", (edit(netvis.compute_saliency_maps, ("X.grad.abs().max(dim=1).values", "X.grad.abs().mean(dim=1)")),),
            ("averages over the channels",)),
    Variant(SALIENCY, "log-probabilities instead of raw scores",
            (edit(netvis.compute_saliency_maps, ("scores = model(X)", "scores = torch.log_softmax(model(X), dim=1)")),),
            ("uses log-probabilities",)),
    Variant(SALIENCY, "sum over channels instead of max", (edit(netvis.compute_saliency_maps, ("X.grad.abs().max(dim=1).values", "X.grad.abs().sum(dim=1)")),),
            ("sums over the channels",)),
    # make_fooling_image
    Variant(FOOLING, "unnormalised step", (edit(netvis.make_fooling_image, ("learning_rate * g / norm", "learning_rate * g")),),
            ("take normalised steps",)),
    Variant(FOOLING, "descends the target score", (edit(netvis.make_fooling_image, ("X_fooling += learning_rate", "X_fooling -= learning_rate")),),
            ("predicts class",)),
    Variant(FOOLING, "model.eval() forgotten", (edit(netvis.make_fooling_image, ("    model.eval()\n", "")),),
            ("call model.eval() first",)),
    Variant(FOOLING, "no stop when the target is predicted",
            (edit(netvis.make_fooling_image, ("        if scores.argmax(dim=1).item() == target_y:\n            break\n", "")),),
            ("stop as soon as the prediction is the target",)),
    Variant(FOOLING, "returns X", (edit(netvis.make_fooling_image, ("    return X_fooling.detach()", "    return X")),),
            ("predicts class",)),
    Variant(FOOLING, "divides by a zero norm",
            (edit(netvis.make_fooling_image, ("            if norm == 0:  # a flat score: no direction raises it\n                break\n", "")),),
            ("divides by zero",)),
    # class_visualization_update_step
    Variant(STEP, "model.eval() forgotten", (edit(netvis.class_visualization_update_step, ("    model.eval()\n", "")),),
            ("img after the first step differs",)),
    Variant(STEP, "unnormalised step", (edit(netvis.class_visualization_update_step, ("g / g.norm()", "g")),),
            ("your step is not normalised",)),
    Variant(STEP, "L2 term with the wrong sign", (edit(netvis.class_visualization_update_step, ("] - l2_reg", "] + l2_reg")),),
            ("the wrong sign",)),
    Variant(STEP, "log-probability objective",
            (edit(netvis.class_visualization_update_step, ("model(img)[0, target_y]", "torch.log_softmax(model(img), dim=1)[0, target_y]")),),
            ("uses a log-probability",)),
    Variant(STEP, "norm instead of squared norm", (edit(netvis.class_visualization_update_step, ("img.pow(2).sum()", "img.norm()")),),
            ("not the squared norm",)),
    Variant(STEP, "grad not zeroed", (edit(netvis.class_visualization_update_step, ("    img.grad.zero_()\n", "")),),
            ("zero img.grad after each step",)),
    Variant(STEP, "out of place: img rebound", (edit(netvis.class_visualization_update_step,
                                                     ("    img.data += learning_rate * g / g.norm()\n", "    img = img + learning_rate * g / g.norm()\n"),
                                                     ("    img.grad.zero_()\n", "")),),
            ("img after the first step differs",)),
]

CORRECT = [
    Variant(SALIENCY, "loop over images with torch.autograd.grad", ('''
def compute_saliency_maps(X, y, model):
    model.eval()
    maps = []
    for i in range(X.shape[0]):
        x = X[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(x)[0, y[i]], x)
        maps.append(g.abs().amax(dim=1)[0])
    return torch.stack(maps)
''',)),
    Variant(SALIENCY, "X.requires_grad_() on the caller's tensor and backward of gathered scores",
            (edit(netvis.compute_saliency_maps, ("X = X.detach().clone().requires_grad_(True)", "X.requires_grad_()")),)),
    Variant(FOOLING, "cross-entropy descent instead of score ascent", (edit(netvis.make_fooling_image,
            ("        scores[0, target_y].backward()\n",
             "        (-torch.nn.functional.cross_entropy(scores, torch.tensor([target_y]))).backward()\n")),)),
    Variant(FOOLING, "updates .data and zeroes with grad = None", (edit(netvis.make_fooling_image,
            ("        with torch.no_grad():\n            g = X_fooling.grad\n            norm = g.norm()\n"
             "            if norm == 0:  # a flat score: no direction raises it\n                break\n"
             "            X_fooling += learning_rate * g / norm\n        X_fooling.grad.zero_()\n",
             "        g = X_fooling.grad\n        X_fooling.data += learning_rate * g / (torch.linalg.vector_norm(g) + 1e-12)\n"
             "        X_fooling.grad = None\n")),)),
    Variant(STEP, "gradient by autograd.grad, update under no_grad", ('''
def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
    model.eval()
    objective = model(img)[0, target_y] - l2_reg * torch.sum(img * img)
    (g,) = torch.autograd.grad(objective, img)
    with torch.no_grad():
        img.add_(g, alpha=learning_rate / g.norm().item())
    if img.grad is not None:
        img.grad.zero_()
''',)),
    Variant(STEP, "loss descended (negated objective) and grad set to None", ('''
def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
    model.eval()
    loss = l2_reg * img.norm() ** 2 - model(img)[0, target_y]
    loss.backward()
    img.data -= learning_rate * img.grad / img.grad.norm()
    img.grad = None
''',)),
]
