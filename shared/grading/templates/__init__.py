"""Templates: named families of test functions a criteria config can refer to."""

from shared.grading.templates.base import Template, TestFunction, TestOutcome
from shared.grading.templates.registry import get_template, known_templates

__all__ = ["Template", "TestFunction", "TestOutcome", "get_template", "known_templates"]
