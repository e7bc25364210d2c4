"""Hidden checks, by name: ``REGISTRY[name](student, rng, context) -> CheckResult``.

Topic modules register their checks when imported below; the course manifest names them in
each unit's ``checks`` list.
"""
from autograder.checks.registry import REGISTRY, CheckContext, CheckResult, UnitOutcome, check_rng, register, run_checks
from autograder.checks import conv, conv_net, dropout, fc_net, fc_net_branches, layers, normalization, optim  # noqa: E402,F401 - registers the checks

__all__ = ["REGISTRY", "CheckContext", "CheckResult", "UnitOutcome", "check_rng", "register", "run_checks"]
