"""The grading engine: criteria config -> criteria tree -> test outcomes -> scores.

Pure logic: the only way out is the ProgramRunner port a caller puts in GradeContext.
"""

from shared.grading.criteria import CriteriaNode, CriteriaTree, TestNode, build_tree
from shared.grading.errors import GradingError, InvalidCriteria, UnknownTemplate
from shared.grading.ports import GradeContext, ProgramRunner
from shared.grading.scoring import focus, grade, run_tests, score_tree, score_vector
from shared.grading.templates import Template, TestFunction, TestOutcome, get_template

__all__ = [
    "CriteriaNode",
    "CriteriaTree",
    "GradeContext",
    "GradingError",
    "InvalidCriteria",
    "ProgramRunner",
    "Template",
    "TestFunction",
    "TestNode",
    "TestOutcome",
    "UnknownTemplate",
    "build_tree",
    "focus",
    "get_template",
    "grade",
    "run_tests",
    "score_tree",
    "score_vector",
]
