"""course.manifest: loading the real and a tiny manifest, and every validation error naming key and fix."""
import re

import pytest

from autograder.units import Question, Unit
from autograder.manifest import read_manifest
from course.manifest import ManifestError, load_manifest
from tests.course.conftest import MANIFEST, REPO, write_course


def test_real_manifest_loads_into_units_and_questions():
    course = load_manifest(REPO)
    fc = course.notebooks["FullyConnectedNets"]
    assert fc.assignment == "a1" and not fc.planned
    assert all(isinstance(u, Unit) for u in fc.units) and all(isinstance(q, Question) for q in fc.questions)
    assert fc.unit("a1-fc-affine_forward").reference == "dl.layers:affine_forward"
    assert fc.source.as_posix() == "course/a1/FullyConnectedNets.py"
    assert not course.notebooks["PyTorch"].planned and course.notebooks["RNN_Captioning"].planned
    assert course.assignments["a2"].reveals == ["a1"]
    assert [nb.name for nb in course.built_notebooks("a1")] == ["FullyConnectedNets", "BatchNormalization", "Dropout", "ConvolutionalNetworks"]
    assert course.notebooks["Dropout"].uses == ["FullyConnectedNets"]
    assert course.notebooks["Dropout"].unit("a1-dropout-fc_dropout").written_in == "a1-fc-FullyConnectedNet"


def test_tiny_manifest(course):
    assert course.id == "tiny"
    assert [u.grade_id for u in course.notebooks["Tiny"].units] == ["t1-tiny-relu_forward", "t1-tiny-affine_forward", "t1-tiny-best"]
    assert course.notebooks["Tiny"].unit("t1-tiny-best").artifact == "t1_best"
    assert course.notebooks["Tiny"].questions == [Question("t1-tiny-q1", 1)]


@pytest.mark.parametrize("old, new, message", [
    ('grade_id = "t1-tiny-relu_forward"', 'grade_id = "t1 tiny/relu"',
     r"\[\[notebooks.Tiny.units\]\] #1 has grade_id \"t1 tiny/relu\" with characters other than letters, digits, '_' and '-'; rename it"),
    ('grade_id = "t1-tiny-affine_forward"', 'grade_id = "t1-tiny-relu_forward"',
     r'reuses grade_id "t1-tiny-relu_forward" .*grade ids must be unique'),
    ('artifact = "t1_best"', '',
     r"#3 \(grade_id \"t1-tiny-best\"\) needs reference = .*, artifact = .*, or both"),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.layers:relu_fwd"',
     r'does not resolve: module dl.layers has no "relu_fwd"; fix the reference'),
    ('reference = "dl.layers:relu_forward"', 'reference = "numpy:maximum"',
     r"outside the dl package"),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.layers.relu_forward"',
     r'is not "module:name" of a top-level object or "module:Class.method"; write e.g. reference = "dl.layers:affine_forward"'),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.models.fc_net:FullyConnectedNet.lossy"',
     r'line 18, \[\[notebooks.Tiny.units\]\] #1 \(grade_id "t1-tiny-relu_forward"\) has a reference that does not resolve: '
     r'class FullyConnectedNet of dl.models.fc_net defines no method "lossy"'),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.layers:relu_forward.loss"',
     r'dl.layers:relu_forward is a function, not a class, so it has no method "loss"'),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.models.fc_net:FullyConnectedNet.loss.inner"',
     r'is not "module:name" of a top-level object or "module:Class.method"'),
    ('points = 1\nreference = "dl.layers:relu_forward"', 'points = 1\ntime_limit_s = 0\nreference = "dl.layers:relu_forward"',
     r'#1 \(grade_id "t1-tiny-relu_forward"\) has time_limit_s = 0; it must be a positive number, e.g. time_limit_s = 120'),
    ('points = 1\nreference = "dl.layers:relu_forward"', 'points = 1\nmemory_mb = 512.5\nreference = "dl.layers:relu_forward"',
     r'has memory_mb = 512.5; it must be a positive whole number, e.g. memory_mb = 4096'),
    ('points = 1\nreference = "dl.layers:relu_forward"', 'points = 1\nmemory_mb = true\nreference = "dl.layers:relu_forward"',
     r'has memory_mb = True; it must be a positive whole number'),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.layers:np"',
     r'has reference "dl.layers:np" naming a module; a unit\'s reference is a function or class'),
    ('reference = "dl.layers:relu_forward"', 'reference = "dl.artifacts:Path"',
     r'has reference "dl.artifacts:Path" to an object defined in pathlib, not in dl'),
    ('reveals = ["t1"]', 'reveals = ["t0"]', r'\[assignments.t2\] reveals "t0", which is not an assignment; known: t1, t2'),
    ('notebooks = ["Later"]', 'notebooks = ["Later", "Tiny"]', r"\[notebooks.Tiny\] is listed by assignments t1, t2; list it in the notebooks of exactly one"),
    ('notebooks = ["Later"]', 'notebooks = []', r"\[notebooks.Later\] is listed by no assignment"),
    ('short = "tiny"', 'short = "tiny"\nplaned = true', r'\[notebooks.Tiny\] has an unknown key "planed"; allowed keys are'),
    ('points = 4', 'points = "four"', r"needs points = <a number >= 0>"),
])
def test_validation_errors_name_file_key_and_fix(tmp_path, old, new, message):
    assert old in MANIFEST
    write_course(tmp_path, MANIFEST.replace(old, new, 1))
    with pytest.raises(ManifestError, match=r"course/manifest.toml: .*" + message):
        load_manifest(tmp_path)


def test_missing_source_of_a_notebook_that_is_not_planned(tmp_path):
    write_course(tmp_path, sources={"t1/Tiny": "# %%\n"})
    with pytest.raises(ManifestError, match=r"\[notebooks.Later\] has no source file course/t2/Later.py; write it, or mark the notebook planned = true"):
        load_manifest(tmp_path)


def test_planned_notebook_needs_no_source_and_no_resolvable_reference(tmp_path):
    manifest = MANIFEST.replace('short = "later"', 'short = "later"\nplanned = true').replace(
        "dl.layers:softmax_loss", "dl.future:not_written_yet")
    write_course(tmp_path, manifest, sources={"t1/Tiny": "# %%\n"})
    assert load_manifest(tmp_path).notebooks["Later"].planned


def test_all_problems_are_reported_together(tmp_path):
    write_course(tmp_path, MANIFEST.replace('reveals = ["t1"]', 'reveals = ["t2"]').replace('short = "tiny"', 'short = "t iny"'))
    with pytest.raises(ManifestError, match=r"2 problem\(s\)(.|\n)*short = (.|\n)*reveals itself"):
        load_manifest(tmp_path)


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="course/manifest.toml: not found"):
        load_manifest(tmp_path)
    write_course(tmp_path, "[course\nid=")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(tmp_path)


SECOND = MANIFEST.replace('notebooks = ["Tiny"]', 'notebooks = ["Tiny", "Second"]') + '''
[notebooks.Second]
assignment = "t1"
short = "second"
planned = true
uses = ["Tiny"]

[[notebooks.Second.units]]
grade_id = "t1-second-relu_forward"
points = 1
reference = "dl.layers:relu_forward"
written_in = "t1-tiny-relu_forward"
checks = ["relu_forward"]
'''


def test_uses_and_written_in_link_a_notebook_to_an_earlier_one(tmp_path):
    write_course(tmp_path, SECOND)
    second = load_manifest(tmp_path).notebooks["Second"]
    assert second.uses == ["Tiny"] and second.unit("t1-second-relu_forward").written_in == "t1-tiny-relu_forward"


@pytest.mark.parametrize("old, new, message", [
    ('notebooks = ["Tiny", "Second"]', 'notebooks = ["Second", "Tiny"]', r'uses "Tiny", which comes after it in \[assignments.t1\]'),
    ('uses = ["Tiny"]', 'uses = ["Later"]', r'uses "Later", which is not a notebook of assignment t1'),
    ('uses = ["Tiny"]', 'uses = []', r'written_in "t1-tiny-relu_forward", which is not a unit of a notebook it uses \(none\)'),
    ('written_in = "t1-tiny-relu_forward"', 'written_in = "t1-tiny-affine_forward"', r"whose reference differs from that of"),
    ('reference = "dl.layers:relu_forward"\nwritten_in', 'artifact = "x"\nwritten_in', r"has written_in, which needs a code unit"),
])
def test_uses_and_written_in_errors(tmp_path, old, new, message):
    assert old in SECOND
    write_course(tmp_path, SECOND.replace(old, new, 1))
    with pytest.raises(ManifestError, match=message):
        load_manifest(tmp_path)


METHOD_UNIT = MANIFEST.replace('reference = "dl.layers:softmax_loss"', 'reference = "dl.models.fc_net:FullyConnectedNet.loss"\n'
                               'time_limit_s = 2.5\nmemory_mb = 2048')


def test_a_method_level_unit_is_defined_by_its_class_and_carries_its_limits(tmp_path):
    write_course(tmp_path, METHOD_UNIT)
    unit = load_manifest(tmp_path).notebooks["Later"].unit("t2-later-softmax_loss")
    assert (unit.class_name, unit.method_name, unit.names) == ("FullyConnectedNet", "loss", ("FullyConnectedNet",))
    assert (unit.time_limit_s, unit.memory_mb) == (2.5, 2048)
    plain = load_manifest(tmp_path).notebooks["Tiny"].unit("t1-tiny-relu_forward")
    assert (plain.class_name, plain.method_name, plain.names) == (None, None, ("relu_forward",))
    assert (plain.time_limit_s, plain.memory_mb) == (None, None)


def test_a_class_has_one_unit_per_notebook_when_one_of_them_is_a_method(tmp_path):
    manifest = METHOD_UNIT.replace('checks = ["softmax_loss"]', '''checks = ["softmax_loss"]

[[notebooks.Later.units]]
grade_id = "t2-later-init"
points = 1
reference = "dl.models.fc_net:FullyConnectedNet.__init__"
''')
    write_course(tmp_path, manifest)
    with pytest.raises(ManifestError, match=r'\[notebooks.Later\] has units "t2-later-softmax_loss" and "t2-later-init" in the '
                                            r"cell of class FullyConnectedNet; .* one unit"):
        load_manifest(tmp_path)


def test_the_autograder_reads_the_same_manifest_without_the_course_checks(tmp_path):
    """autograder.manifest is the one reader: it loads units with no source files, and never imports course."""
    write_course(tmp_path, METHOD_UNIT, sources={})
    course = read_manifest(tmp_path / "course" / "manifest.toml")
    assert course.unit("t2-later-softmax_loss") == load_manifest_unit(METHOD_UNIT, tmp_path / "full")
    with pytest.raises(ManifestError, match="has no source file"):
        load_manifest(tmp_path)


def load_manifest_unit(manifest: str, root):
    write_course(root, manifest)
    return load_manifest(root).notebooks["Later"].unit("t2-later-softmax_loss")


def test_no_other_module_parses_the_manifest():
    imports = re.compile(r"^\s*(import|from) tomllib\b", re.M)
    readers = [p.relative_to(REPO).as_posix() for folder in ("autograder", "course", "dl")
               for p in sorted((REPO / folder).rglob("*.py")) if imports.search(p.read_text(encoding="utf-8"))]
    assert readers == ["autograder/manifest.py"]
