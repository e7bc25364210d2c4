"""Autograder: extraction of the student's program, a worker process that runs it, the checks
registry and reports.

Public entry points:

- :func:`autograder.grade.grade_submission` and :func:`autograder.grade.grade_batch` grade
  notebooks in a worker process, outputs only (DESIGN.md, "Grading"), and write Gradescope
  ``results.json`` files and a CSV gradebook (:mod:`autograder.reports`); whole assignments,
  one task per student, are graded by :mod:`course.grade` (``dl-course grade``).
- :func:`autograder.feedback.write_feedback_html` writes a student's feedback page;
  :func:`autograder.gradebook.write_nbgrader_gradebook` puts scores into nbgrader's gradebook.
- :func:`autograder.nbgrader_bridge.run_unit_checks` runs the same checks inside a kernel, for
  the hidden test cells of ``nbgrader autograde``.
- :data:`autograder.checks.REGISTRY` maps the check names of ``course/manifest.toml`` to check
  functions, importing a topic module only when one of its checks is used;
  :func:`autograder.manifest.read_manifest` is the one reader of the manifest;
  :mod:`autograder.datasets` names the held-out data sets checks read.

Module map: ``extraction`` (which cells run), ``protocol`` (messages), ``worker`` (runs student
code), ``sandbox`` (bubblewrap around it), ``cgroups`` (memory and task limits per worker), ``runner``
(starts and talks to workers), ``student`` (what checks call), ``submitted`` (which submission
files the grader itself reads), ``checks/`` (per topic), ``datasets`` (held-out data by name),
``manifest`` (the course manifest, typed), ``options`` (every limit and its default).
"""
