"""Grade a whole assignment: every notebook of every submission, one report per student (``dl-course grade``).

A submission is a folder holding the assignment's notebooks (and the ``artifacts/`` they wrote),
as students hand in their copy of the release folder; for a one-notebook assignment a bare
``.ipynb`` works too. The student id is the folder's name.

One task grades one student: each notebook in a sandboxed worker of its own
(:func:`autograder.grade.grade_submission`), merged into one result. Tasks run ``jobs`` at a time
in this process's threads, or on a Dask cluster (``scheduler``: a ``distributed`` scheduler's
address; the workers must see the course root and the submissions at the same paths, and have
this package installed). Either way the results come back here and are written as each task
finishes, so an interrupted run loses only the submissions being graded at that moment.

Outputs under ``out``:

- ``<student>/results.json``: Gradescope's format, every unit of the assignment;
- ``<student>/feedback.html``: the same for the student to read (no hidden test source);
- ``grades.csv``: one row per student, one column per unit, and the total;
- ``grading.log``: one line per submission, and whatever the staff should know (tracebacks of
  units the grader could not grade, warnings about the sandbox or the fixture data); never shown
  to students;
- ``.state/<student>.json``: the finished result with a fingerprint of what was graded (the
  submission's notebooks and artifacts, the release, the grader's and the reference's code, the
  units and the options). A re-run skips every student whose fingerprint is unchanged, and
  grades again those whose submission changed; ``force`` grades everyone again.

Accuracy units are graded on the real held-out CIFAR-10 unless the run asks for the generated
stand-in (``fixture_data``, ``--fixture-data``); ``DL_SMOKE`` never decides it.

Modules: :mod:`~course.grading.plan` (what to grade, from the manifest and the release),
:mod:`~course.grading.submissions` (submission folders and student ids),
:mod:`~course.grading.task` (grading one student), :mod:`~course.grading.runners` (local
threads or Dask), :mod:`~course.grading.state` (fingerprints, resuming),
:mod:`~course.grading.reports` (per-student reports, score table, notes for the staff) and
:mod:`~course.grading.assignment` (the run: :func:`~course.grading.assignment.grade_assignment`).
"""
