"""docs/grading.md is what the registry declares."""
from pathlib import Path

from autograder.checks.grading_doc import grading_doc

PAGE = Path(__file__).resolve().parents[2] / "docs" / "grading.md"


def test_the_committed_page_is_up_to_date():
    assert PAGE.read_text(encoding="utf-8") == grading_doc(), (
        "docs/grading.md is out of date: run `python -m autograder.checks.grading_doc > docs/grading.md`")
