"""compute_expected_values: reference_value(expr) -> literal, computed with the reference, rest of the cell untouched."""
import re

import numpy as np
import pytest

import dl.layer_utils
from course.build.assign_roles import assign_roles
from course.build.compute_expected_values import compute_expected_values, substitute_reference_values
from course.build.context import BuildError
from course.build.literals import rounded
from course.build.inline_references import inline_references
from tests.course.conftest import TINY, run_steps, source_notebook

WHERE = "course/t1/Tiny.py line 20 (cell 6)"


def test_check_cell_values_come_from_the_reference(course):
    nb, ctx = source_notebook(course)
    nb = run_steps(nb, ctx, [assign_roles, inline_references, compute_expected_values])
    check = next(c for c in nb.cells if c.metadata["dl"]["role"] == "check")
    x = np.linspace(-0.5, 0.5, num=6).reshape(2, 3)
    w = np.linspace(-0.2, 0.3, num=12).reshape(3, 4)
    b = np.linspace(-0.1, 0.1, num=4)
    expected = dl.layer_utils.affine_relu_forward(x, w, b)[0]
    before, after = TINY.split('# %% role="check"\n')[1].split("\n\n# %%")[0].split("reference_value(affine_relu_forward(x, w, b)[0])")
    assert check.source.startswith(before) and check.source.endswith(after)  # everything else untouched
    literal = check.source[len(before):len(check.source) - len(after)]
    assert literal.startswith("np.array(")
    np.testing.assert_array_equal(eval(literal, {"np": np}), rounded(expected))  # exactly the rounded value
    np.testing.assert_allclose(eval(literal, {"np": np}), expected, rtol=5e-11, atol=0)


def test_the_namespace_holds_imports_but_not_setup_work(course):
    # The setup cell loads missing.npy; only its imports run, so the build does not fail.
    nb, ctx = source_notebook(course)
    run_steps(nb, ctx, [assign_roles, inline_references, compute_expected_values])


def run(source, namespace=None):
    return substitute_reference_values(source, dict(namespace or {"np": np}), WHERE)


def test_several_calls_and_positions():
    source = "a = [reference_value(1 + 1), reference_value(np.arange(3) * 0.5)]  # note\nprint(reference_value(True))\n"
    assert run(source) == "a = [2, np.array([0.0, 0.5, 1.0])]  # note\nprint(True)\n"


def test_negative_values_keep_their_meaning_inside_expressions():
    assert run("a = reference_value(-1.5)\nb = reference_value(-1.5) ** 2\n") == "a = -1.5\nb = (-1.5) ** 2\n"


def test_the_value_is_taken_when_the_call_runs():
    assert run("a = reference_value(np.zeros(2))\na += 1\n") == "a = np.array([0.0, 0.0])\na += 1\n"


def test_non_ascii_text_before_a_call():
    assert run('s = "é→"; v = reference_value(2.5)\n') == 's = "é→"; v = 2.5\n'


def test_multiline_call_and_wrapped_literal():
    source = "if True:\n    expected = reference_value(\n        np.arange(40.0).reshape(2, 20)\n    )\n"
    out = run(source)
    assert out.startswith("if True:\n    expected = np.array([\n        [0.0, 1.0,")
    assert out.endswith("    ])\n")
    scope = {"np": np}
    exec(out, scope)
    np.testing.assert_array_equal(scope["expected"], np.arange(40.0).reshape(2, 20))


def test_the_cell_prints_nothing_at_build_time(capsys):
    run("print('hello')\nv = reference_value(1)\n")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("source, message", [
    ("for i in range(2):\n    v = reference_value(i)\n", r"line 2 of the cell: reference_value\(...\) ran 2 times with different values"),
    ("if False:\n    v = reference_value(1)\n", r"line 2 of the cell: reference_value\(...\) never ran"),
    ("v = reference_value(reference_value(1))\n", r"reference_value\(...\) inside reference_value"),
    ("v = reference_value(1, 2)\n", r"reference_value takes exactly one expression"),
    ("f = reference_value\n", r"reference_value is only valid as a call"),
    ("v = reference_value(np.zeros(1001))\n", r"line 1 of the cell: cannot write .*1001 numbers, over the limit of 1000"),
    ("v = reference_value({1: 1})\n", r"dict keys must be strings"),
    ("v = reference_value(object())\n", r"values of type builtins.object cannot be written as a literal"),
    ("x = 1\nv = reference_value(undefined_name)\n", r"the check cell raised NameError: name 'undefined_name' is not defined"),
    ("v = reference_value(1\n", r"line 1 of the check cell does not parse"),
])
def test_errors_name_the_cell_and_line(source, message):
    with pytest.raises(BuildError, match=rf"{re.escape(WHERE)}.*{message}" if "of the cell" in message else message):
        run(source)


def test_broken_reference_code_is_reported_with_its_cell(course):
    text = TINY.replace('# %% provide="dl.layer_utils:affine_relu_forward"\n', '# %%\nfrom dl.nowhere import thing\n\n# %% provide="dl.layer_utils:affine_relu_forward"\n')
    nb, ctx = source_notebook(course, text=text)
    with pytest.raises(BuildError, match=r"cell 5\): running the import statements of this cell to compute expected values failed: ModuleNotFoundError"):
        run_steps(nb, ctx, [assign_roles, inline_references, compute_expected_values])


def test_machine_noise_in_the_last_bits_gives_the_same_literal():
    assert run("v = reference_value(1.4983496695842708)\n") == run("v = reference_value(1.4983496695842702)\n")


def test_literals_need_their_module_imported_by_the_notebook():
    import torch

    assert run("v = reference_value(torch.ones(2))\n", {"torch": torch}) == "v = torch.tensor([1.0, 1.0], dtype=torch.float32)\n"
    with pytest.raises(BuildError, match=r"line 2 of the cell: .*needs `import torch` in the notebook's setup cell"):
        run("import torch as th\nv = reference_value(th.ones(2))\n", {"x": 0})
    with pytest.raises(BuildError, match=r"needs `import numpy as np`"):
        run("import numpy\nv = reference_value(numpy.ones(2))\n", {"x": 0})


def test_reference_file_writes_the_arrays_and_the_cell_loads_them():
    import torch

    from course.build.reference_files import read_npz

    files: dict[str, bytes] = {}
    source = ('torch.manual_seed(0)\nchecks = reference_file("gan-checks.npz", logits=torch.randn(10, 1, dtype=torch.float64),\n'
              '                        loss=torch.tensor(0.5), n=3)\nprint(checks["loss"])\n')
    out = substitute_reference_values(source, {"np": np, "torch": torch}, WHERE, files)
    assert out == 'torch.manual_seed(0)\nchecks = dict(np.load(\'gan-checks.npz\', allow_pickle=False))\nprint(checks["loss"])\n'
    arrays = read_npz(files["gan-checks.npz"])
    assert list(arrays) == ["logits", "loss", "n"]
    torch.manual_seed(0)
    np.testing.assert_array_equal(arrays["logits"], rounded(torch.randn(10, 1, dtype=torch.float64).numpy()))
    assert arrays["loss"].dtype == np.float32 and arrays["loss"].shape == () and arrays["n"] == 3


@pytest.mark.parametrize("source, message", [
    ('c = reference_file(name, a=1)\n', r"reference_file takes the file name as a string"),
    ('c = reference_file("c.npz")\n', r"reference_file takes the file name as a string"),
    ('c = reference_file("../c.npz", a=1)\n', r"the file name must be a string literal like"),
    ('c = reference_file("c.npz", a=np.array(["s"]))\n', r"cannot write a reference file: a= has dtype <U1"),
    ('c = reference_file("c.npz", a=reference_value(1))\n', r"reference_value\(...\) inside reference_file"),
    ('for i in range(2):\n    c = reference_file("c.npz", a=i)\n', r"line 2 of the cell: reference_file\(...\) ran 2 times"),
    ('c = reference_file("c.npz", a=1)\nd = reference_file("c.npz", a=1)\n', r"line 2 of the cell: c.npz is already written"),
])
def test_reference_file_errors(source, message):
    with pytest.raises(BuildError, match=message):
        substitute_reference_values(source, {"np": np}, WHERE, {})
