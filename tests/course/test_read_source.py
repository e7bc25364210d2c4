"""read_source: jupytext percent text -> cells whose header options are in metadata, with source lines."""
from course.build.read_source import read_source

TEXT = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# Prose.

# %% role="setup"
import numpy as np

# %% Section title unit="a1-x-f" tags=["keep"]
def f():
    pass
# %% [markdown] question="a1-x-q1"
# An answer.
'''


def test_header_options_arrive_in_cell_metadata_without_layout_keys():
    nb, _ = read_source(TEXT)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "markdown"]
    assert [dict(c.metadata) for c in nb.cells] == [{}, {"role": "setup"}, {"unit": "a1-x-f", "tags": ["keep"]}, {"question": "a1-x-q1"}]
    assert nb.cells[0].source == "Prose." and nb.cells[3].source == "An answer."
    assert nb.cells[2].source == "def f():\n    pass"
    assert dict(nb.metadata) == {}  # the source's own notebook metadata is dropped


def test_lines_are_the_cell_headers():
    _, lines = read_source(TEXT)
    assert lines == [9, 12, 15, 18]


def test_code_before_the_first_header_has_no_line():
    nb, lines = read_source("x = 1\n\n# %%\ny = 2\n")
    assert len(nb.cells) == 2 and lines == [None, 3]


def test_a_header_jupytext_cannot_parse_is_kept_for_the_role_step():
    nb, _ = read_source("# %% unit=a1-x-f\nx = 1\n")
    assert nb.cells[0].metadata == {"incorrectly_encoded_metadata": "unit=a1-x-f"}
