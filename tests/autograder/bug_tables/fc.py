"""FullyConnectedNets: realistic bugs of every graded unit, and correct variants that keep full marks.

Most bugs are whole implementations written the way a student might, other than the reference,
with one mistake; a few are the reference with one line changed (:func:`edit`). ``words`` is
what the unit's message must say: the named bug where the check recognises it, else the property
that failed.
"""
from tests.autograder.bug_tables import Variant, edit

AFFINE_FORWARD = "a1-fc-affine_forward"
AFFINE_BACKWARD = "a1-fc-affine_backward"
RELU_FORWARD = "a1-fc-relu_forward"
RELU_BACKWARD = "a1-fc-relu_backward"
SOFTMAX = "a1-fc-softmax_loss"
NET = "a1-fc-FullyConnectedNet"
MOMENTUM = "a1-fc-sgd_momentum"
RMSPROP = "a1-fc-rmsprop"
ADAM = "a1-fc-adam"
FC_NET = "dl.models.fc_net:FullyConnectedNet"

BUGS = [
    # ---------------------------------------------------------------------------------------- affine_forward
    Variant(AFFINE_FORWARD, "bias forgotten", ('''
def affine_forward(x, w, b):
    N = x.shape[0]
    out = np.dot(x.reshape(N, -1), w)
    cache = (x, w, b)
    return out, cache
''',), ("your out equals the right answer without the bias b",)),
    Variant(AFFINE_FORWARD, "x flattened with its examples as columns", ('''
def affine_forward(x, w, b):
    D = w.shape[0]
    out = x.reshape(D, -1).T.dot(w) + b
    return out, (x, w, b)
''',), ("x.reshape(D, N).T instead of x.reshape(N, D)",)),
    Variant(AFFINE_FORWARD, "the cache holds the flattened x", ('''
def affine_forward(x, w, b):
    x_flat = x.reshape(x.shape[0], -1)
    out = x_flat @ w + b
    cache = (x_flat, w, b)
    return out, cache
''',), ("cache[0] (x) has shape", "the cache must be (x, w, b)")),
    Variant(AFFINE_FORWARD, "out filled row by row into a float64 array", ('''
def affine_forward(x, w, b):
    N, M = x.shape[0], w.shape[1]
    out = np.zeros((N, M))
    for i in range(N):
        out[i] = x[i].ravel() @ w + b
    return out, (x, w, b)
''',), ("out has dtype float64 for float32 inputs",)),
    # ---------------------------------------------------------------------------------------- affine_backward
    Variant(AFFINE_BACKWARD, "dx not reshaped to x's shape", ('''
def affine_backward(dout, cache):
    x, w, b = cache
    x2 = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T)
    dw = x2.T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db
''',), ("your dx equals the right answer without the reshape to x's shape", ", the shape of x, on x of shape")),
    Variant(AFFINE_BACKWARD, "db averaged over the batch", ('''
def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(*x.shape)
    dw = np.reshape(x, (len(x), -1)).T @ dout
    db = np.mean(dout, axis=0)
    return dx, dw, db
''',), ("your db averages dout over the batch instead of summing it",)),
    Variant(AFFINE_BACKWARD, "dw transposed", ('''
def affine_backward(dout, cache):
    x, w, b = cache
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), dout.T @ x2, dout.sum(0)
''',), ("your dw is the transpose of the right answer",)),
    Variant(AFFINE_BACKWARD, "dw accumulated in a float64 array", ('''
def affine_backward(dout, cache):
    x, w, b = cache
    x2 = x.reshape(x.shape[0], -1)
    dw = np.zeros(w.shape)
    for i in range(x2.shape[0]):
        dw += np.outer(x2[i], dout[i])
    return (dout @ w.T).reshape(x.shape), dw, dout.sum(axis=0)
''',), ("dw has dtype float64 for float32 inputs",)),
    # ---------------------------------------------------------------------------------------- relu_forward
    Variant(RELU_FORWARD, "relu in place: the cached x is changed", ('''
def relu_forward(x):
    x[x < 0] = 0
    out = x
    cache = x
    return out, cache
''',), ("the cache must be x, the input unchanged",)),
    Variant(RELU_FORWARD, "returns the mask x > 0", ('''
def relu_forward(x):
    return x > 0, x
''',), ("your out is the mask x > 0 instead of max(0, x)",)),
    Variant(RELU_FORWARD, "np.max instead of np.maximum", ('''
def relu_forward(x):
    out = np.max(0, x)
    return out, x
''',), ("relu_forward raised TypeError",)),
    Variant(RELU_FORWARD, "out built as a float64 array", ('''
def relu_forward(x):
    out = np.zeros(x.shape)
    out[x > 0] = x[x > 0]
    return out, x
''',), ("out has dtype float64 for float32 inputs",)),
    # ---------------------------------------------------------------------------------------- relu_backward
    Variant(RELU_BACKWARD, "gradient passed where x == 0", ('''
def relu_backward(dout, cache):
    x = cache
    return dout * (x >= 0)
''',), ("where x == 0 exactly",)),
    Variant(RELU_BACKWARD, "dout forgotten", ('''
def relu_backward(dout, cache):
    return (cache > 0).astype(dout.dtype)
''',), ("your dx lacks the factor dout",)),
    Variant(RELU_BACKWARD, "dout times relu(x) instead of the indicator", ('''
def relu_backward(dout, cache):
    return dout * np.maximum(0, cache)
''',), ("dx where x != 0 differs from the expected value",)),
    Variant(RELU_BACKWARD, "the mask cast to float64", ('''
def relu_backward(dout, cache):
    mask = (cache > 0).astype(np.float64)
    return dout * mask
''',), ("dx has dtype float64 for float32 inputs",)),
    Variant(RELU_BACKWARD, "x read from a global set by relu_forward instead of the cache", ('''
def relu_forward(x):
    global last_x
    last_x = x
    return np.maximum(0, x), x

def relu_backward(dout, cache):
    return dout * (last_x > 0)
''',), ("relu_backward raised ValueError",)),
    # ---------------------------------------------------------------------------------------- softmax_loss
    Variant(SOFTMAX, "loss and dx summed over the minibatch", ('''
def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    N = x.shape[0]
    loss = -np.sum(np.log(probs[np.arange(N), y]))
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx
''',), ("your loss sums over the minibatch instead of averaging",)),
    Variant(SOFTMAX, "no row maximum subtracted: overflow at large logits", ('''
def softmax_loss(x, y):
    N = x.shape[0]
    e = np.exp(x)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(N), y]))
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx / N
''',), ("nan or inf", "logits offset by about +-1e3 per row")),
    Variant(SOFTMAX, "dx lacks the -1 at the label", ('''
def softmax_loss(x, y):
    N = len(y)
    z = x - x.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(p[range(N), y]).mean()
    return loss, p / N
''',), ("lacks the -1 at each example's label",)),
    Variant(SOFTMAX, "dx not divided by N", ('''
def softmax_loss(x, y):
    N = len(y)
    z = x - x.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(p[range(N), y]).mean()
    p[range(N), y] -= 1
    return loss, p
''',), ("your dx sums over the minibatch instead of averaging (divide by N)",)),
    Variant(SOFTMAX, "one-hot labels from np.eye make dx float64", ('''
def softmax_loss(x, y):
    N, C = x.shape
    z = x - x.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    onehot = np.eye(C)[y]
    loss = -np.sum(onehot * np.log(p)) / N
    return loss, (p - onehot) / N
''',), ("dx has dtype float64 for float32 inputs",)),
    # ---------------------------------------------------------------------------------------- FullyConnectedNet
    Variant(NET, "regularisation loss without the factor 0.5",
            (edit(FC_NET, ("loss += 0.5 * self.reg * sum", "loss += self.reg * sum")),),
            ("without the factor 0.5",)),
    Variant(NET, "biases regularised too", (edit(
        FC_NET,
        ('weights = [self.params[f"W{i}"] for i in range(1, L + 1)]',
         'weights = [self.params[f"{kind}{i}"] for i in range(1, L + 1) for kind in "Wb"]'),
        ('grads[f"W{i}"] += self.reg * self.params[f"W{i}"]',
         'grads[f"W{i}"] += self.reg * self.params[f"W{i}"]\n            grads[f"b{i}"] += self.reg * self.params[f"b{i}"]'),
    ),), ("your loss also regularises the biases",)),
    Variant(NET, "regularisation missing from the weights' gradients",
            (edit(FC_NET, ('grads[f"W{i}"] += self.reg * self.params[f"W{i}"]', "pass")),),
            ("lacks the regularisation term reg * W",)),
    Variant(NET, "weights drawn last layer first",
            (edit(FC_NET, ("for i in range(1, self.num_layers + 1):\n            self.params[f\"W{i}\"]",
                           "for i in range(self.num_layers, 0, -1):\n            self.params[f\"W{i}\"]")),),
            ("other values than the seeded draw",)),
    Variant(NET, "biases drawn at random", (edit(FC_NET, ('self.params[f"b{i}"] = np.zeros(dims[i])',
                                                          'self.params[f"b{i}"] = weight_scale * np.random.randn(dims[i])')),),
            ("are not all exactly zero",)),
    Variant(NET, "weight_scale taken as the variance", (edit(FC_NET, (
        'self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])',
        'self.params[f"W{i}"] = np.sqrt(weight_scale) * np.random.randn(dims[i - 1], dims[i])')),),
            ("times weight_scale",)),
    Variant(NET, "the constructor reseeds numpy's RNG", (edit(FC_NET, (
        "dims = [input_dim, *hidden_dims, num_classes]", "np.random.seed(0)\n        dims = [input_dim, *hidden_dims, num_classes]")),),
            ("do not reseed",)),
    Variant(NET, "a relu after the last affine layer", (edit(FC_NET, (
        'scores, caches[f"affine{L}"] = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])',
        'scores, caches[f"affine{L}"] = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])\n'
        '        scores = np.maximum(0, scores)')),),
            ("scores = loss(X) differs from the expected value",)),
    # ---------------------------------------------------------------------------------------- sgd_momentum
    Variant(MOMENTUM, "velocity not stored back", (edit("dl.optim:sgd_momentum", ('    config["velocity"] = v\n', "")),),
            ("store the updated velocity back into config",)),
    Variant(MOMENTUM, "the step uses the velocity before its update", ('''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    next_w = w + config["velocity"]
    config["velocity"] = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    return next_w, config
''',), ("the step next_w - w differs",)),
    Variant(MOMENTUM, "velocity kept with the opposite sign", ('''
def sgd_momentum(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    v = config["momentum"] * config["velocity"] + config["learning_rate"] * dw
    config["velocity"] = v
    return w - v, config
''',), ("config['velocity'] after",)),
    # ---------------------------------------------------------------------------------------- rmsprop
    Variant(RMSPROP, "epsilon inside the square root", (edit("dl.optim:rmsprop", (
        'dw / (np.sqrt(cache) + config["epsilon"])', 'dw / np.sqrt(cache + config["epsilon"])')),),
            ("epsilon inside the square root",)),
    Variant(RMSPROP, "cache not stored back", (edit("dl.optim:rmsprop", ('    config["cache"] = cache\n', "")),),
            ("store the updated cache back into config",)),
    Variant(RMSPROP, "square root forgotten", ('''
def rmsprop(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    config["cache"] = config["decay_rate"] * config["cache"] + (1 - config["decay_rate"]) * dw * dw
    return w - config["learning_rate"] * dw / (config["cache"] + config["epsilon"]), config
''',), ("the step next_w - w differs",)),
    Variant(RMSPROP, "decay rate applied to the new squared gradient", (edit("dl.optim:rmsprop", (
        'cache = rho * config["cache"] + (1 - rho) * dw**2', 'cache = (1 - rho) * config["cache"] + rho * dw**2')),),
            ("the step next_w - w differs",)),
    # ---------------------------------------------------------------------------------------- adam
    Variant(ADAM, "no bias correction", ('''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw**2
    next_w = w - config["learning_rate"] * config["m"] / (np.sqrt(config["v"]) + config["epsilon"])
    return next_w, config
''',), ("your step lacks Adam's bias correction",)),
    Variant(ADAM, "t incremented after the bias correction", (edit(
        "dl.optim:adam", ('t = config["t"] + 1', 't = config["t"]'),
        ('config["t"], config["m"], config["v"] = t, m, v', 'config["t"], config["m"], config["v"] = t + 1, m, v')),),
            ("the step next_w - w contains nan or inf",)),
    Variant(ADAM, "m and v not stored back", (edit("dl.optim:adam", (
        'config["t"], config["m"], config["v"] = t, m, v', 'config["t"] = t')),),
            ("store the updated m back into config",)),
    Variant(ADAM, "bias-corrected moments stored", (edit("dl.optim:adam", (
        'config["t"], config["m"], config["v"] = t, m, v', 'config["t"], config["m"], config["v"] = t, m_hat, v_hat')),),
            ("config['m'] after one step with config=None",)),
    Variant(ADAM, "step counter kept in a global instead of the config", ('''
steps_taken = 0

def adam(w, dw, config=None):
    global steps_taken
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    steps_taken += 1
    b1, b2 = config["beta1"], config["beta2"]
    m = b1 * config["m"] + (1 - b1) * dw
    v = b2 * config["v"] + (1 - b2) * dw**2
    next_w = w - config["learning_rate"] * (m / (1 - b1**steps_taken)) / (np.sqrt(v / (1 - b2**steps_taken)) + config["epsilon"])
    config["t"], config["m"], config["v"] = config["t"] + 1, m, v
    return next_w, config
''',), ("adam gave a different answer when asked the same question again",)),
]

CORRECT = [
    Variant(AFFINE_FORWARD, "np.dot on x reshaped with np.prod", ('''
def affine_forward(x, w, b):
    D = int(np.prod(x.shape[1:]))
    out = np.dot(np.reshape(x, (x.shape[0], D)), w) + b
    return out, (x, w, b)
''',)),
    Variant(AFFINE_BACKWARD, "einsum", ('''
def affine_backward(dout, cache):
    x, w, b = cache
    x2 = x.reshape(len(x), -1)
    dx = np.einsum("nm,dm->nd", dout, w).reshape(x.shape)
    dw = np.einsum("nd,nm->dm", x2, dout)
    db = np.einsum("nm->m", dout)
    return dx, dw, db
''',)),
    Variant(RELU_FORWARD, "x times its mask", ('''
def relu_forward(x):
    return x * (x > 0), x
''',)),
    Variant(RELU_BACKWARD, "np.where", ('''
def relu_backward(dout, cache):
    return np.where(cache > 0, dout, 0)
''',)),
    Variant(SOFTMAX, "log-softmax, summed then divided", ('''
def softmax_loss(x, y):
    N = len(y)
    z = x - x.max(axis=1)[:, None]
    log_p = z - np.log(np.exp(z).sum(axis=1))[:, None]
    loss = -log_p[np.arange(N), y].sum() / N
    dx = np.exp(log_p)
    dx[np.arange(N), y] -= 1.0
    return loss, dx / N
''',)),
    Variant(SOFTMAX, "probabilities first, then their log", ('''
def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= np.sum(probs, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
''',)),
    Variant(NET, "np.random.normal initialisation, norms for the penalty, layers called one by one", (edit(
        FC_NET,
        ('self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])',
         'self.params[f"W{i}"] = np.random.normal(0.0, weight_scale, size=(dims[i - 1], dims[i]))'),
        ('loss += 0.5 * self.reg * sum(float(np.sum(w * w)) for w in weights)',
         'loss += 0.5 * self.reg * sum(np.linalg.norm(w) ** 2 for w in weights)'),
        ('h, caches[f"hidden{i}"] = affine_relu_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])',
         'a, fc_cache = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])\n'
         '                h, relu_cache = relu_forward(a)\n'
         '                caches[f"hidden{i}"] = (fc_cache, relu_cache)'),
        ('dh, grads[f"W{i}"], grads[f"b{i}"] = affine_relu_backward(dh, caches[f"hidden{i}"])',
         'fc_cache, relu_cache = caches[f"hidden{i}"]\n'
         '                dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(relu_backward(dh, relu_cache), fc_cache)'),
    ),)),
    Variant(MOMENTUM, "velocity updated in place", ('''
def sgd_momentum(w, dw, config=None):
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    config.setdefault("velocity", np.zeros_like(w))
    v = config["velocity"]
    v *= config["momentum"]
    v -= config["learning_rate"] * dw
    return w + v, config
''',)),
    Variant(RMSPROP, "cache updated in place with np.square", ('''
def rmsprop(w, dw, config=None):
    config = config if config is not None else {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    rho = config["decay_rate"]
    config["cache"] *= rho
    config["cache"] += (1 - rho) * np.square(dw)
    return w - config["learning_rate"] * dw / (np.sqrt(config["cache"]) + config["epsilon"]), config
''',)),
    Variant(ADAM, "t incremented in the config first, corrected step written out", ('''
def adam(w, dw, config=None):
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    t = config["t"]
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * (dw * dw)
    m_hat = config["m"] / (1 - config["beta1"] ** t)
    v_hat = config["v"] / (1 - config["beta2"] ** t)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config
''',)),
]
