"""The graded model classes work as the source a notebook cell receives.

The build pastes a class's source into a cell. There it can use only what the notebook defines:
numpy as ``np`` and the layer functions, with no ``from __future__ import annotations`` in
force. In FullyConnectedNets the normalization and dropout regions are still stubs, so the
plain path must not depend on them.
"""
import inspect
import re

import numpy as np
import pytest

import dl.layer_utils
import dl.layers
from dl.models import FullyConnectedNet, ThreeLayerConvNet

MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)
# a region opened right below a line marked "# complete in <notebook>"
LATER_REGION = re.compile(
    r"(?P<head># complete in \w+\n)(?P<indent>[ \t]*)### BEGIN SOLUTION\n.*?(?P=indent)### END SOLUTION\n", re.DOTALL
)


def notebook_namespace():
    """What a notebook defines before the model cell: numpy and every layer function."""
    namespace = {"np": np}
    for module in (dl.layers, dl.layer_utils):
        namespace.update({name: obj for name, obj in vars(module).items() if inspect.isfunction(obj)})
    return namespace


def run_cell(source, name):
    namespace = notebook_namespace()
    exec(compile(source, f"<cell {name}>", "exec"), namespace)  # noqa: S102 - the cell under test is our own source
    return namespace[name]


@pytest.mark.parametrize("cls", [FullyConnectedNet, ThreeLayerConvNet])
def test_class_source_runs_with_only_the_notebook_names(cls):
    source = MARKER.sub("", inspect.getsource(cls))
    cell_cls = run_cell(source, cls.__name__)
    rng = np.random.default_rng(0)
    if cls is FullyConnectedNet:
        kwargs = dict(hidden_dims=[5, 4], input_dim=6, num_classes=3, normalization="batchnorm",
                      dropout_keep_ratio=0.5, seed=1, dtype=np.float64)
        X = rng.standard_normal((4, 6))
    else:
        kwargs = dict(input_dim=(2, 4, 4), num_filters=2, filter_size=3, hidden_dim=3, dtype=np.float64)
        X = rng.standard_normal((2, 2, 4, 4))
    y = np.array([0, 1, 2, 1])[: len(X)]
    np.random.seed(3)
    reference = cls(**kwargs)
    np.random.seed(3)
    from_cell = cell_cls(**kwargs)
    loss, grads = from_cell.loss(X, y)
    expected_loss, expected_grads = reference.loss(X, y)
    assert loss == expected_loss
    for name in expected_grads:
        np.testing.assert_array_equal(grads[name], expected_grads[name])


def test_fully_connected_net_plain_path_does_not_need_the_later_regions():
    source = inspect.getsource(FullyConnectedNet)
    stubbed, count = LATER_REGION.subn(r"\g<head>\g<indent>raise NotImplementedError\n", source)
    assert count == 5  # constructor gamma/beta; forward norm and dropout; backward dropout and norm
    cell_cls = run_cell(MARKER.sub("", stubbed), "FullyConnectedNet")
    np.random.seed(4)
    model = cell_cls([5, 4], input_dim=6, num_classes=3, dtype=np.float64)
    np.random.seed(4)
    reference = FullyConnectedNet([5, 4], input_dim=6, num_classes=3, dtype=np.float64)
    X, y = np.random.default_rng(1).standard_normal((3, 6)), np.array([0, 2, 1])
    assert model.loss(X, y)[0] == reference.loss(X, y)[0]
    for options in ({"normalization": "batchnorm"}, {"dropout_keep_ratio": 0.5}):
        with pytest.raises(NotImplementedError):
            cell_cls([5, 4], input_dim=6, num_classes=3, **options).loss(X, y)
