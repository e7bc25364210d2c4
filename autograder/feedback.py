"""What a student sees of their grading: the public checks of a unit, and a feedback page.

Public checks are the facts a student can see and reproduce in their own notebook: a code unit's
answer cell was found, ran without error and defines the unit's names; an artifact unit's files
(:attr:`autograder.units.Unit.artifact_files`, as :mod:`dl.artifacts` writes them) were saved. The grader fills them into :class:`~autograder.reports.UnitResult` with the helpers below.

:func:`feedback_html` is a self-contained page (inline CSS, no scripts, no external resources; a
Content-Security-Policy forbids both) built only from a :class:`~autograder.reports.SubmissionResult`:
the unit ids, the public checks' outcome, the number of hidden checks and, when their results
are visible, each unit's score, status and the checks' message. It never holds a check's source,
its inputs or seeds, or the reference: none of them is in a result. Every text comes out
HTML-escaped, since messages quote student code (names, exception messages). The page says how
many hidden checks exist and never that all tests passed.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

from autograder.reports import HIDDEN_CHECKS_NOTE, SubmissionResult, UnitResult, check_visibility, pending_note, public_line
from autograder.submitted import refusal

# --------------------------------------------------------------------------------------------
# Public checks


def artifact_public_check(files: tuple[str, ...], directory: str | os.PathLike | None) -> tuple[bool, str]:
    """Whether the files of a saved model (:attr:`~autograder.units.Unit.artifact_files`) are in
    ``directory`` (default ``artifacts``) and readable, and a message."""
    folder = Path(directory) if directory is not None else Path("artifacts")
    problems = dict.fromkeys(filter(None, (refusal(folder.parent, f"{folder.name}/{file}") for file in files)))
    if problems:
        return False, f"{'; '.join(problems)}; run the cell that saves your model"
    return True, f"{' and '.join(f'{folder.name}/{file}' for file in files)} were saved"


def code_public_check(names: tuple[str, ...], cell_label: str | None, cell_error: str | None,
                      undefined: list[str]) -> tuple[bool, str]:
    """The public checks of a code unit whose cell was found and run: its names defined, no error."""
    where = cell_label or "your cells"
    if undefined:
        raised = f"; running it gave {cell_error}" if cell_error else ""
        return False, f"`{undefined[0]}` is not defined after running {where}{raised}"
    if cell_error:
        return False, f"running {where} gave {cell_error}"
    return True, f"{where} runs without error and defines {', '.join(f'`{name}`' for name in names)}"


# --------------------------------------------------------------------------------------------
# The feedback page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; }
.box { border-radius: 4px; padding: .6em 1em; margin: 1em 0; white-space: pre-wrap; }
.warning { background: #fff4d6; border: 1px solid #e0b400; }
.error { background: #fde2e1; border: 1px solid #d33; }
.note { background: #eef3fb; border: 1px solid #9bb3d9; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4em .6em; text-align: left; vertical-align: top; }
td.message { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: .9em; }
.passed { color: #1a7f37; } .failed, .error-status { color: #c62828; } .partial { color: #b26a00; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _e(text: object) -> str:
    """``text`` escaped for HTML element content and attribute values."""
    return html.escape(str(text), quote=True)


def _number(value: float) -> str:
    return f"{value:g}"


def _header(result: SubmissionResult) -> list[str]:
    title = f"Feedback on {result.notebook} for {result.submission}"
    return ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
            f"<h1>Feedback on {_e(result.notebook)}</h1>", f"<p>Submission: <strong>{_e(result.submission)}</strong></p>"]


def _notices(result: SubmissionResult) -> list[str]:
    """Warnings about the grading, then the submission's error."""
    boxes = [f'<div class="box warning">{_e(warning)}</div>' for warning in result.warnings]
    if result.error:
        boxes.append(f'<div class="box error">{_e(result.error)}</div>')
    return boxes


def _summary(result: SubmissionResult, visibility: str) -> list[str]:
    """The total score (only when the hidden checks' results are visible) and the note on hidden checks."""
    if visibility == "visible":
        return [f"<p>Total score: <strong>{_number(result.score)} / {_number(result.max_score)}</strong></p>",
                f'<div class="box note">{_e(HIDDEN_CHECKS_NOTE)}</div>']
    return [f'<div class="box note">{_e(pending_note(result, visibility))}</div>']


def _status_class(status: str) -> str:
    return "error-status" if status == "error" else status if status in ("passed", "partial", "failed") else ""


def _row(unit: UnitResult, published: bool) -> str:
    """One table row: unit id, public checks and, when published, score, status and message."""
    cells = [f"<td>{_e(unit.grade_id)}</td>", f"<td>{_e(public_line(unit, published))}</td>"]
    if published:
        cells += [f"<td>{_number(unit.score)} / {_number(unit.max_score)}</td>",
                  f'<td class="{_status_class(unit.status)}">{_e(unit.status)}</td>',
                  f'<td class="message">{_e(unit.message)}</td>']
    return "<tr>" + "".join(cells) + "</tr>"


def _table(result: SubmissionResult, published: bool) -> list[str]:
    heads = ["Unit", "Public checks"] + (["Score", "Status", "Hidden checks"] if published else [])
    return ["<table>", "<thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead>", "<tbody>",
            *(_row(unit, published) for unit in result.units), "</tbody>", "</table>"]


def feedback_html(result: SubmissionResult, hidden_visibility: str = "visible") -> str:
    """The feedback page of one submission.

    ``hidden_visibility`` is as in :func:`autograder.reports.gradescope_results`: with
    ``visible`` the page shows the total and every unit's score, status and message; with any
    other of Gradescope's values it shows only the public checks and says when the hidden
    checks' results are shown. ValueError for an unknown value.
    """
    visibility = check_visibility(hidden_visibility)
    published = visibility == "visible"
    parts = [*_header(result), *_notices(result), *_summary(result, visibility), *_table(result, published),
             "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_feedback_html(result: SubmissionResult, path: str | os.PathLike, hidden_visibility: str = "visible") -> Path:
    """Write :func:`feedback_html` to ``path`` atomically (a temporary file renamed into place)."""
    page = feedback_html(result, hidden_visibility)  # raises for a bad visibility before anything is written
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
