"""nbgrader configuration of the course (read by every ``nbgrader`` command run in this folder).

The build writes nbgrader source notebooks to ``source_notebooks/<assignment>/``, with the
student edition of ``dl`` (``dl/``) and the check cells' reference files beside them, and
``nbgrader generate_assignment`` writes the student versions to ``release/<assignment>/``, copying
those files too: plain ``nbgrader generate_assignment <a>`` makes a complete release
(``dl-course release`` is the checked way to run it).
"""
from pathlib import Path

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "dl-course"
c.CourseDirectory.source_directory = "source_notebooks"
c.CourseDirectory.release_directory = "release"
# `dl-course release` also keeps source_notebooks/<a>/artifacts/ (written when a source notebook
# runs) out of releases; that exclusion is passed to generate_assignment only, because autograde
# reads the same setting when it copies the artifacts students submit.

# nbgrader autograde runs every cell of a submission, training runs included; its default limit of
# 30 s a cell fails a full-size training cell (and a smoke-size one on a busy machine). Half an
# hour a cell bounds a notebook that hangs.
c.Execute.timeout = 1800
