"""dl.notebook_import and dl.program: reading notebooks, finding unit cells, importing a notebook's graded work."""
import json
import traceback

import nbformat
import warnings

import numpy as np
import pytest

from dl.notebook_import import GradientShapeWarning, NotebookImportError, import_notebook, read_notebook, rebind
from dl.program import defined_names, find_unit_cells, import_statements

UNITS = {"t-double": ["double"], "t-Scaler": ["Scaler"]}


def make_notebook(path, cells, units=UNITS, provided=("helper",)):
    """A notebook shaped like the build's output: setup, provided, unit cells, other cells."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["dl"] = {"units": units, "provided": list(provided)}
    for kind, source, meta in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.metadata.update(meta)
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def unit(gid):
    return {"dl": {"role": "unit", "unit": gid}, "nbgrader": {"grade_id": gid, "solution": True, "grade": False}}


STANDARD = [
    ("code", "import math\nimport numpy as np\nDATA = np.load('missing.npy')  # setup work is never run", {"dl": {"role": "setup"}}),
    ("code", "def helper(x):\n    return 2 * x", {"dl": {"role": "provide"}}),
    ("md", "Write `double`.", {}),
    ("code", "def double(x):\n    return helper(x)", unit("t-double")),
    ("code", "print(double(3))\nraise RuntimeError('a check cell is never run')", {"dl": {"role": "check"}}),
    ("code", "class Scaler:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, x):\n        return math.floor(self.k * x)", unit("t-Scaler")),
]


def test_imports_units_with_their_imports_and_provided_code(tmp_path):
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", STANDARD))
    assert module.double(4) == 8
    assert module.Scaler(2.5)(1) == 2
    assert not hasattr(module, "DATA")


def test_rebound_code_looks_names_up_in_the_new_namespace_at_call_time(tmp_path):
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", STANDARD))
    here = {"__name__": "later_notebook"}
    double = rebind(module.double, here)
    here["helper"] = lambda x: -x  # defined after rebinding, as a later cell would
    assert double(4) == -4 and module.double(4) == 8  # the original is untouched

    source = "class Counter:\n    start = 10\n    def __init__(self, k=1):\n        self.k = k\n" \
             "    def step(self):\n        return bump(self.k)\n    @staticmethod\n    def unit():\n        return bump(0)\n" \
             "    @property\n    def size(self):\n        return bump(self.k) * 2\n"
    original = {}
    exec(source + "def bump(x):\n    return x + 1\n", original)
    Counter = rebind(original["Counter"], {"bump": lambda x: x + 100, "__name__": "later"})
    assert Counter(2).step() == 102 and Counter.unit() == 100 and Counter(1).size == 202 and Counter.start == 10
    assert original["Counter"](2).step() == 3
    with pytest.raises(TypeError, match="function or a class"):
        rebind(3, {})


def test_metadata_stripped_falls_back_to_names(tmp_path):
    stripped = [(k, s, {}) for k, s, _ in STANDARD]
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", stripped))
    assert module.double(5) == 10 and module.Scaler(3)(1) == 3


def test_duplicated_cells_resolve_to_the_last(tmp_path):
    cells = STANDARD + [("code", "def double(x):\n    return 3 * x", unit("t-double"))]
    nb = read_notebook(make_notebook(tmp_path / "Nb.ipynb", cells))
    found = find_unit_cells(nb, UNITS, "Nb.ipynb")
    assert found.cells["t-double"].duplicates == 1
    assert import_notebook(tmp_path / "Nb.ipynb").double(1) == 3


def test_a_missing_unit_costs_only_its_names(tmp_path):
    cells = [c for c in STANDARD if "class Scaler" not in c[1]]
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", cells))
    assert module.double(2) == 4
    with pytest.raises(NotebookImportError, match=r"`Scaler` could not be imported from Nb.ipynb: no cell of Nb.ipynb defines "
                                                  r"`Scaler` \(unit t-Scaler\). Complete it in Nb.ipynb"):
        module.Scaler
    with pytest.raises(AttributeError, match="no attribute 'DATA'"):
        module.DATA


def test_a_unit_cell_that_fails_to_load_costs_only_its_names_and_says_where(tmp_path):
    broken = "class Scaler:\n    def __init__(self, k):\n        self.k = (k\n"
    cells = STANDARD[:5] + [("code", broken, unit("t-Scaler"))]
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", cells))
    assert module.double(3) == 6 and module.helper(1) == 2  # what loaded is usable
    with pytest.raises(NotebookImportError) as error:
        module.Scaler
    assert str(error.value).startswith("`Scaler` could not be imported from Nb.ipynb: cell 6 of Nb.ipynb (unit t-Scaler) failed: SyntaxError")
    assert "line 3 of the cell: `self.k = (k`" in str(error.value) and "fix it in Nb.ipynb" in str(error.value)

    raising = "class Scaler:\n    pass\nundefined_name + 1\n"  # defines the class, then raises: usable, with a warning
    cells = STANDARD[:5] + [("code", "raise RuntimeError('no')\n" + STANDARD[5][1], unit("t-Scaler"))]
    module = import_notebook(make_notebook(tmp_path / "Raises.ipynb", cells))
    with pytest.raises(NotebookImportError, match=r"cell 6 of Raises.ipynb \(unit t-Scaler\) failed: RuntimeError: no \(line 1 of the cell"):
        module.Scaler
    cells = STANDARD[:5] + [("code", raising, unit("t-Scaler"))]
    with pytest.warns(UserWarning, match=r"Half.ipynb: cell 6 of Half.ipynb \(unit t-Scaler\) failed: NameError.*line 3 of the cell: `undefined_name \+ 1`"):
        module = import_notebook(make_notebook(tmp_path / "Half.ipynb", cells))
    assert module.Scaler() is not None


def test_tracebacks_from_imported_code_show_the_notebooks_lines(tmp_path):
    cells = STANDARD[:3] + [("code", "def double(x):\n    y = 2 * x\n    return y / (x - x)  # the faulty line\n", unit("t-double"))] + STANDARD[4:]
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", cells))
    try:
        module.double(1)
    except ZeroDivisionError:
        text = traceback.format_exc()
    assert 'File "<Nb.ipynb cell 4>", line 3, in double' in text and "return y / (x - x)  # the faulty line" in text


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe not utf8", "not UTF-8"),
        (b'{"cells": [', "not valid JSON"),
        (json.dumps({"cells": [], "nbformat": 3}).encode(), "not an nbformat 4 notebook"),
        (b"[1, 2]", "not an nbformat 4 notebook"),
        (b'{"cells": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_unreadable_notebooks_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "Bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookImportError, match=message):
        read_notebook(path)


def test_missing_file(tmp_path, monkeypatch):
    with pytest.raises(NotebookImportError, match="does not exist"):
        read_notebook(tmp_path / "Nope.ipynb")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotebookImportError) as error:
        import_notebook("FullyConnectedNets.ipynb")
    assert str(error.value) == (f"notebook FullyConnectedNets.ipynb does not exist in {tmp_path} (the working directory); "
                                "open this notebook from the assignment folder, next to FullyConnectedNets.ipynb")


def test_defined_names_and_import_statements():
    source = "import numpy as np\nfrom math import pi\nx = 1\ndef f():\n    import os\nclass C: pass\nprint(x)"
    assert defined_names(source) == {"x", "f", "C"}
    assert import_statements(source) == "import numpy as np\nfrom math import pi"
    assert defined_names("def broken(:") == set()
    for too_deep in ("x = " + "-" * 200_000 + "1", "x = 1" + " + 1" * 200_000):  # MemoryError, RecursionError in the parser
        assert defined_names(too_deep) == set() and import_statements("import os\n" + too_deep) == ""


def test_under_nbgrader_autograde_a_notebook_not_yet_autograded_is_read_from_the_submission(tmp_path, monkeypatch):
    submitted = tmp_path / "submitted" / "student" / "a1"
    autograded = tmp_path / "autograded" / "student" / "a1"
    autograded.mkdir(parents=True)
    make_notebook(submitted.mkdir(parents=True) or submitted / "Nb.ipynb", STANDARD)
    monkeypatch.chdir(autograded)
    with pytest.raises(NotebookImportError, match="does not exist"):
        import_notebook("Nb.ipynb")  # outside autograde: no fallback
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert import_notebook("Nb.ipynb").double(2) == 4


def test_rebound_classes_keep_zero_argument_super_working():
    namespace = {"__name__": "earlier"}
    exec("class Base:\n    def describe(self):\n        return 'base'\n"
         "class Child(Base):\n    def describe(self):\n        return 'child of ' + super().describe() + suffix()\n"
         "    @classmethod\n    def make(cls):\n        return super().__new__(cls)\n", namespace)
    Child = rebind(namespace["Child"], {"__name__": "later", "suffix": lambda: "!"})
    assert Child().describe() == "child of base!" and isinstance(Child.make(), Child)
    assert Child.__qualname__ == "Child" and Child.__module__ == "later"


def test_an_nn_module_from_an_earlier_notebook_is_reused_with_super(tmp_path):
    torch = pytest.importorskip("torch")
    source = ("class TwoLayerNet(nn.Module):\n"
              "    def __init__(self, d_in, d_hidden):\n"
              "        super().__init__()\n"
              "        self.fc1, self.fc2 = nn.Linear(d_in, d_hidden), nn.Linear(d_hidden, 1)\n"
              "    def forward(self, x):\n"
              "        return self.fc2(activation(self.fc1(x)))\n")
    cells = [("code", "import torch\nfrom torch import nn\n", {"dl": {"role": "setup"}}),
             ("code", "def activation(x):\n    return torch.relu(x)\n", unit("t-activation")),
             ("code", source, unit("t-TwoLayerNet"))]
    path = make_notebook(tmp_path / "Earlier.ipynb", cells, units={"t-activation": ["activation"], "t-TwoLayerNet": ["TwoLayerNet"]})
    earlier = import_notebook(path)
    later = {"__name__": "__main__", "nn": torch.nn, "activation": lambda x: -x}  # this notebook's own activation
    TwoLayerNet = rebind(earlier.TwoLayerNet, later)
    torch.manual_seed(0)
    net = TwoLayerNet(3, 4)
    x = torch.randn(2, 3)
    assert isinstance(net, torch.nn.Module) and len(list(net.parameters())) == 4
    assert torch.equal(net(x), net.fc2(-net.fc1(x)))  # forward runs, with the later notebook's activation
    original = earlier.TwoLayerNet(3, 4)
    original.load_state_dict(net.state_dict())
    assert torch.equal(original(x), net.fc2(torch.relu(net.fc1(x))))


LAYER_UNITS = {"t-f": ["scale_forward"], "t-b": ["scale_backward"]}
LAYER = [
    ("code", "import numpy as np", {"dl": {"role": "setup"}}),
    ("code", "def scale_forward(x, w):\n    return x * w, (x, w)\n", unit("t-f")),
    ("code", "def scale_backward(dout, cache):\n    x, w = cache\n    dx = (dout * w).reshape(len(x), -1)  # the reshape is wrong\n"
             "    return dx, (dout * x).sum(0)\n", unit("t-b")),
]


def test_an_exception_inside_an_imported_function_names_the_function_notebook_and_cell(tmp_path):
    cells = STANDARD[:3] + [("code", "def double(x):\n    return helper(x) / 0\n", unit("t-double"))] + STANDARD[4:]
    module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", cells))
    later = {"__name__": "later"}
    exec("def twice(x):\n    return double(x)\n", later)
    later["double"] = module.double
    with pytest.raises(ZeroDivisionError) as error:
        later["twice"](1)
    assert error.value.__notes__ == ["raised in double, imported from Nb.ipynb (cell 4, line 2): if the mistake is there, "
                                     "fix it in Nb.ipynb, save it and re-run this notebook's setup cell"]
    with pytest.raises(ZeroDivisionError) as error:  # rebound, and called by the module's own code: one note
        rebind(module.double, {"helper": lambda x: x, "__name__": "later"})(1)
    assert len(error.value.__notes__) == 1 and "raised in double" in error.value.__notes__[0]


NET = ("class Base:\n    def describe(self):\n        return 'net'\n"
       "class Net(Base):\n"
       "    def __init__(self, scale):\n        self.scale = scale\n"
       "    def loss(self, x):\n        return layer(x) * self.scale\n"
       "    def describe(self):\n        return 'small ' + super().describe()\n"
       "    @staticmethod\n    def check(x):\n        return 1 / x\n"
       "    @classmethod\n    def make(cls):\n        return cls(1 / 0)\n"
       "    @property\n    def inverse(self):\n        return 1 / self.scale\n")


def test_an_exception_inside_a_method_of_an_imported_class_names_the_method_notebook_and_cell(tmp_path):
    cells = [("code", "import numpy as np", {"dl": {"role": "setup"}}),
             ("code", "def layer(x):\n    return x.reshape(2, 3)\n", unit("t-layer")),
             ("code", NET, unit("t-Net"))]
    module = import_notebook(make_notebook(tmp_path / "Nets.ipynb", cells, {"t-layer": ["layer"], "t-Net": ["Net"]}, ()))
    hint = "if the mistake is there, fix it in Nets.ipynb, save it and re-run this notebook's setup cell"
    net = module.Net(0)
    failures = [(lambda: net.loss(np.ones(5)), "layer, imported from Nets.ipynb (cell 2, line 2)"),  # the innermost cell frame
                (lambda: net.check(0), "Net.check, imported from Nets.ipynb (cell 3, line 13)"),
                (lambda: module.Net.make(), "Net.make, imported from Nets.ipynb (cell 3, line 16)"),
                (lambda: net.inverse, "Net.inverse, imported from Nets.ipynb (cell 3, line 19)")]
    for call, place in failures:
        with pytest.raises((ValueError, ZeroDivisionError)) as error:
            call()
        assert error.value.__notes__ == [f"raised in {place}: {hint}"]
    assert isinstance(net, module.Net) and net.describe() == "small net"  # the class itself is unchanged

    # rebound into a later notebook: the copy's methods explain too, and super() still works
    later = {"__name__": "later", "layer": lambda x: x[10]}
    Net = rebind(module.Net, later)
    assert Net(2).describe() == "small net" and Net(4).inverse == 0.25
    with pytest.raises(IndexError) as error:
        Net(2).loss(np.ones(3))
    assert error.value.__notes__ == [f"raised in Net.loss, imported from Nets.ipynb (cell 3, line 8): {hint}"]
    with pytest.raises(ZeroDivisionError) as error:
        Net(0).check(0)
    assert len(error.value.__notes__) == 1 and "raised in Net.check" in error.value.__notes__[0]


def test_an_imported_backward_returning_a_gradient_of_the_wrong_shape_is_named_there(tmp_path):
    module = import_notebook(make_notebook(tmp_path / "Layers.ipynb", LAYER, LAYER_UNITS, provided=()))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 3))
    out, cache = module.scale_forward(x, w)
    with pytest.warns(GradientShapeWarning) as warned:
        dx, _ = module.scale_backward(np.ones_like(out), cache)
    assert dx.shape == (4, 6)  # returned as it is: the caller behaves as it would in the grader
    assert str(warned[0].message) == ("dx has shape (4, 6); expected (4, 2, 3), the shape of x (returned by scale_backward, "
                                      "imported from Layers.ipynb (cell 3)): if the mistake is there, fix it in "
                                      "Layers.ipynb, save it and re-run this notebook's setup cell")
    # a cache the imported forward did not make is not checked: the notebook's own code decides
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientShapeWarning)
        assert module.scale_backward(np.ones_like(out), (x, w))[0].shape == (4, 6)


def test_correct_imported_layers_pass_their_shape_checks(tmp_path):
    fixed = LAYER[:2] + [("code", LAYER[2][1].replace(".reshape(len(x), -1)", ""), unit("t-b"))]
    module = import_notebook(make_notebook(tmp_path / "Layers.ipynb", fixed, LAYER_UNITS, provided=()))
    x, w = np.ones((4, 2, 3)), np.ones((2, 3))
    out, cache = module.scale_forward(x, w=w)
    dx, dw = module.scale_backward(out, cache)
    assert dx.shape == x.shape and dw.shape == w.shape


def test_a_graded_cell_using_a_name_defined_outside_the_graded_cells_gets_a_warning(tmp_path):
    cells = STANDARD[:3] + [("code", "def my_factor():\n    return 2", {}),
                            ("code", "def double(x):\n    return my_factor() * x", unit("t-double"))] + STANDARD[4:]
    with pytest.warns(UserWarning, match=r"`double` uses `my_factor`, which Nb.ipynb defines outside its graded cells "
                                         r"\(cell 4\); a later notebook \(and the grader\) cannot see it: move it into the graded cell"):
        module = import_notebook(make_notebook(tmp_path / "Nb.ipynb", cells))
    with pytest.raises(NameError):
        module.double(1)


def test_names_the_course_defines_in_its_own_plain_cells_give_no_warning(recwarn, tmp_path):
    """A plain cell the course ships (role "code") may define what a unit uses in this notebook's
    own runs (a later notebook rebinds it); only the student's own cells are warned about, and a
    notebook that lost all its metadata cannot tell them apart."""
    shipped = STANDARD[:3] + [("code", "def my_factor():\n    return 2", {"dl": {"role": "code"}}),
                              ("code", "def double(x):\n    return my_factor() * x", unit("t-double"))] + STANDARD[4:]
    import_notebook(make_notebook(tmp_path / "Shipped.ipynb", shipped))
    stripped = [(kind, source, {}) for kind, source, _ in STANDARD[:3]] + [
        ("code", "def my_factor():\n    return 2", {}), ("code", "def double(x):\n    return my_factor() * x", {})]
    import_notebook(make_notebook(tmp_path / "Stripped.ipynb", stripped))
    assert not [w for w in recwarn if "outside its graded cells" in str(w.message)]


def test_names_bound_by_the_program_builtins_or_locals_give_no_warning(recwarn, tmp_path):
    body = "def double(x):\n    total = sum([helper(x)])\n    return math.floor(total) + len([k for k in range(1)]) - 1"
    cells = STANDARD[:3] + [("code", "total = 1\nk = 2", {}), ("code", body, unit("t-double"))] + STANDARD[4:]
    assert import_notebook(make_notebook(tmp_path / "Nb.ipynb", cells)).double(2) == 4
    assert not [w for w in recwarn if "outside its graded cells" in str(w.message)]
