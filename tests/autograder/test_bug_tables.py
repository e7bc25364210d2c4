"""Every unit's bug table: each bug costs its own unit at least a quarter of its points and no other unit anything;
each correct variant keeps full marks everywhere (tables in ``tests/autograder/bug_tables/``)."""
import pytest

from tests.autograder.bug_tables import LOSES_AT_LEAST, TABLES, grade, notebook_units, variants

BUGS = variants("BUGS")
CORRECT = variants("CORRECT")
MIN_BUGS_PER_UNIT = 3


@pytest.mark.parametrize("notebook, variant", BUGS, ids=[str(v) for _, v in BUGS])
def test_a_bug_costs_its_own_unit_and_no_other(notebook, variant):
    outcomes = grade(notebook, variant.sources)
    own = outcomes[variant.unit]
    assert own.score <= 1 - LOSES_AT_LEAST, f"{variant} kept {own.score:.2f} of its points: {own.message}"
    for word in variant.words:
        assert word in own.message, f"{variant}: {word!r} not in the message: {own.message}"
    charged = {grade_id: round(o.score, 3) for grade_id, o in outcomes.items() if grade_id != variant.unit and o.score < 1}
    assert not charged, f"{variant} also cost {charged}: " + "; ".join(outcomes[g].message for g in charged)


@pytest.mark.parametrize("notebook, variant", CORRECT, ids=[str(v) for _, v in CORRECT])
def test_a_correct_variant_keeps_full_marks(notebook, variant):
    lost = {g: (round(o.score, 3), o.message) for g, o in grade(notebook, variant.sources).items() if o.score < 1}
    assert not lost, f"{variant} lost points: {lost}"


@pytest.mark.parametrize("notebook", list(TABLES))
def test_every_unit_has_a_bug_table(notebook):
    counts = {u.grade_id: 0 for u in notebook_units(notebook)}
    for name, variant in BUGS:
        if name == notebook:
            counts[variant.unit] += 1
    short = {grade_id: n for grade_id, n in counts.items() if n < MIN_BUGS_PER_UNIT}
    assert not short, f"units of {notebook} with fewer than {MIN_BUGS_PER_UNIT} bugs in their table: {short}"
