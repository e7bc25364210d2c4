"""Autograder: extraction of the student's program, a worker process that runs it, the checks
registry and reports.

Public entry points:

- :func:`autograder.grade.grade_submission` grades one notebook in a worker process, outputs
  only (DESIGN.md, "Grading"); :mod:`autograder.reports` writes Gradescope ``results.json`` files
  and a CSV gradebook. Whole assignments, one task per student, are graded by
  :mod:`course.grading` (``dl-course grade``), the one batch driver.
- :func:`autograder.feedback.write_feedback_html` writes a student's feedback page;
  :func:`autograder.gradebook.write_nbgrader_gradebook` puts scores into nbgrader's gradebook.
- :func:`autograder.nbgrader_bridge.run_unit_checks` runs the same checks inside a kernel, for
  the hidden test cells of ``nbgrader autograde``.
- :data:`autograder.checks.REGISTRY` maps the check names of ``course/manifest.toml`` to check
  functions, importing a topic module only when one of its checks is used;
  :func:`autograder.manifest.read_manifest` is the one reader of the manifest;
  :mod:`autograder.datasets` names the held-out data sets checks read.

Module map: ``extraction`` (the program of a submission, from :func:`dl.program.assemble`, the one
set of rules the kernel and the build use too), ``protocol`` (messages), ``worker`` (runs student
code), ``sandbox`` (bubblewrap around it), ``cgroups`` (memory and task limits per worker), ``runner``
(starts and talks to workers), ``student`` (what checks call), ``submitted`` (which submission
files the grader itself reads), ``checks/`` (per topic), ``datasets`` (held-out data by name),
``manifest`` (the course manifest, typed), ``options`` (every limit and its default).
"""
