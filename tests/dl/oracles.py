"""Independent PyTorch oracles (float64 autograd) shared by the layer and model tests."""
import numpy as np
import torch


def torch_grads(fn, *arrays, dout=None):
    """Value and input gradients of ``fn`` on float64 tensors, by autograd.

    ``fn`` takes one tensor per array; ``dout`` is the upstream gradient (ones when None).
    Returns ``(value as numpy, [gradient of each array as numpy])``.
    """
    tensors = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    seed = torch.ones_like(out) if dout is None else torch.tensor(dout)
    out.backward(seed)
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]
