"""solution_regions: finding, removing and replacing ### BEGIN/END SOLUTION regions."""
import pytest

from course.build.solution_regions import RegionError, find_regions, remove_markers, replace_regions
from course.build.stub_solutions import dl_sources

TEXT = """\
def f(x):
    y = 1
    ### BEGIN SOLUTION
    y = x + 1
    ### END SOLUTION
    return y
"""


def test_find_and_remove():
    (region,) = find_regions(TEXT)
    assert (region.begin, region.end, region.indent) == (2, 4, "    ")
    assert remove_markers(TEXT) == "def f(x):\n    y = 1\n    y = x + 1\n    return y\n"


def test_replace_keeps_or_stubs():
    (region,) = find_regions(TEXT)
    assert replace_regions(TEXT, {region: None}) == remove_markers(TEXT)
    assert replace_regions(TEXT, {region: "raise NotImplementedError"}) == "def f(x):\n    y = 1\n    raise NotImplementedError\n    return y\n"


@pytest.mark.parametrize("text, message", [
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "line 2: ### BEGIN SOLUTION inside the region opened at line 1"),
    ("x\n### END SOLUTION\n", "line 2: ### END SOLUTION without a ### BEGIN SOLUTION"),
    ("    ### BEGIN SOLUTION\n", "line 1: ### BEGIN SOLUTION has no ### END SOLUTION"),
    ("  ### BEGIN SOLUTION\n### END SOLUTION\n", "line 2: ### END SOLUTION is indented differently"),
    ("# see BEGIN SOLUTION below\n", "line 1: '# see BEGIN SOLUTION below' mentions a solution marker but is not one"),
])
def test_malformed_markers(text, message):
    with pytest.raises(RegionError, match=f"f.py {message}"):
        find_regions(text, "f.py")


@pytest.mark.parametrize("path", sorted(p for p, t in dl_sources().items() if "### BEGIN SOLUTION" in t))
def test_stubbing_leaves_every_non_solution_line_of_dl_unchanged(path):
    text = dl_sources()[path]
    regions = find_regions(text, path)
    stubbed = replace_regions(text, {r: "raise NotImplementedError('stub')" for r in regions}, path)
    inside = {i for r in regions for i in range(r.begin, r.end + 1)}
    outside = [line for i, line in enumerate(text.splitlines()) if i not in inside]
    kept = [line for line in stubbed.splitlines() if "raise NotImplementedError('stub')" not in line]
    assert kept == outside
    assert stubbed.count("raise NotImplementedError('stub')") == len(regions)
