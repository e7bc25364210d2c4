"""Hidden checks, by name: ``REGISTRY[name](student, rng, context) -> CheckResult``.

The topic modules of this package register their checks with ``@register("name")``; the course
manifest names them in each unit's ``checks`` list. A topic module is imported only when one of
its checks is looked up (:class:`~autograder.checks.registry.CheckRegistry`).
"""
from autograder.checks.registry import REGISTRY, CheckContext, CheckResult, Part, UnitOutcome, check_rng, register, run_checks

__all__ = ["REGISTRY", "CheckContext", "CheckResult", "Part", "UnitOutcome", "check_rng", "register", "run_checks"]
