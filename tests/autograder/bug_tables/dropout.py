"""Dropout: realistic single bugs of each unit, and correct implementations that differ from the reference."""
from tests.autograder.bug_tables import Variant, edit

FORWARD = "dl.layers:dropout_forward"
BACKWARD = "dl.layers:dropout_backward"
NET = "dl.models.fc_net:FullyConnectedNet"
REFERENCE_MASK = "mask = ((np.random.rand(*x.shape) < p) / p).astype(x.dtype, copy=False)"


def dropout_forward_written_out(*, keep: str = "np.random.rand(*x.shape) < p", cache: str = "(dropout_param, mask)",
                                test: str = "x") -> str:
    """A dropout_forward a student might write, with its own names; the arguments plant one bug."""
    return f'''
def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        keep = {keep}
        mask = (keep / p).astype(x.dtype)
        out = x * mask
    elif mode == "test":
        out = {test}
    else:
        raise ValueError("mode must be 'train' or 'test'")
    return out, {cache}
'''


BUGS = [
    # dropout_forward
    Variant("a1-dropout-dropout_forward", "p taken as the probability of dropping a unit",
            (edit(FORWARD, (REFERENCE_MASK, "mask = ((np.random.rand(*x.shape) >= p) / (1 - p)).astype(x.dtype)")),),
            ("p is the probability of keeping a unit, not of dropping it",)),
    Variant("a1-dropout-dropout_forward", "kept units not divided by p",
            (dropout_forward_written_out(keep="(np.random.rand(*x.shape) < p) * p"),), ("divide the kept units by p",)),
    Variant("a1-dropout-dropout_forward", "test mode scales by p", (dropout_forward_written_out(test="x * p"),),
            ("your test mode scales x by p",)),
    Variant("a1-dropout-dropout_forward", "the mask not stored in the cache", (dropout_forward_written_out(cache="(dropout_param, None)"),),
            ("cache[1] (mask) is None",)),
    Variant("a1-dropout-dropout_forward", "the seed ignored", (edit(FORWARD, ('np.random.seed(dropout_param["seed"])', "pass")),),
            ("dropout_forward gave a different answer when asked the same question again", "with a seed the mask must be the reference's")),

    # dropout_backward
    Variant("a1-dropout-dropout_backward", "the mask used in test mode too",
            (edit(BACKWARD, ("        dx = dout\n", "        dx = dout * mask\n")),),
            ("dropout_backward raised TypeError", "dropout_param in test mode")),
    Variant("a1-dropout-dropout_backward", "the 1/p scaling left out", (edit(BACKWARD, ("dx = dout * mask", "dx = dout * (mask > 0)")),),
            ("without the division by p",)),
    Variant("a1-dropout-dropout_backward", "a new mask drawn in the backward pass", (edit(BACKWARD, (
        "dx = dout * mask", 'dx = dout * (np.random.rand(*dout.shape) < dropout_param["p"]) / dropout_param["p"]')),),
            ("no seed: the mask exists only in the cache",)),
    Variant("a1-dropout-dropout_backward", "divided by p again",
            (edit(BACKWARD, ("dx = dout * mask", 'dx = dout * mask / dropout_param["p"]')),), ("divides by p twice",)),

    # the dropout branch of FullyConnectedNet
    Variant("a1-dropout-fc_dropout", "dropout left on for the scores", (edit(NET, ('self.dropout_param["mode"] = mode', "pass")),),
            ("loss(X) (test-mode scores) differs", "test mode has no dropout")),
    Variant("a1-dropout-fc_dropout", "no dropout in the backward pass",
            (edit(NET, ('dh = dropout_backward(dh, caches[f"dropout{i}"])', "pass")),), ("grads['W1'] differs from the expected value",)),
    Variant("a1-dropout-fc_dropout", "the keep ratio used as the drop ratio",
            (edit(NET, ('"p": dropout_keep_ratio}', '"p": 1 - dropout_keep_ratio}')),), ("the loss of loss(X, y) differs",)),
    Variant("a1-dropout-fc_dropout", "dropout on the scores too", (edit(NET, (
        'scores, caches[f"affine{L}"] = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])',
        'scores, caches[f"affine{L}"] = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])\n'
        '        if self.use_dropout:\n'
        '            scores, caches["dropout_scores"] = dropout_forward(scores, self.dropout_param)'),
        ('        loss, dscores = softmax_loss(scores, y)\n',
         '        loss, dscores = softmax_loss(scores, y)\n'
         '        if self.use_dropout:\n'
         '            dscores = dropout_backward(dscores, caches["dropout_scores"])\n')),),
            ("the loss of loss(X, y) differs",)),
]

CORRECT = [
    Variant("a1-dropout-dropout_forward", "written out with its own names", (dropout_forward_written_out(),)),
    Variant("a1-dropout-dropout_forward", "np.random.random_sample and np.where", (edit(
        FORWARD, (REFERENCE_MASK, "mask = np.where(np.random.random_sample(x.shape) < p, 1 / p, 0).astype(x.dtype)")),)),
    Variant("a1-dropout-dropout_backward", "the mode read from the mask", ('''
def dropout_backward(dout, cache):
    _, mask = cache
    return dout if mask is None else np.multiply(dout, mask)
''',)),
    Variant("a1-dropout-fc_dropout", "the dropout layers called in a loop of their own", (edit(NET, (
        '''            if self.use_dropout:  # complete in Dropout
                h, caches[f"dropout{i}"] = dropout_forward(h, self.dropout_param)
''', '''            if self.use_dropout:  # complete in Dropout
                out, drop_cache = dropout_forward(h, self.dropout_param)
                h = out
                caches[f"dropout{i}"] = drop_cache
''')),)),
]
