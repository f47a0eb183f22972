"""The template catalogue: each template's test functions and their parameter schemas,
as served by GET /api/v1/templates and written to docs/."""

from typing import Any

from shared.grading.templates.base import Template
from shared.grading.templates.registry import get_template, known_templates


def template_summary(template: Template) -> dict[str, Any]:
    return {
        "name": template.name,
        "description": template.description,
        "requires_sandbox": template.requires_sandbox,
        "test_functions": sorted(template.functions),
    }


def template_detail(name: str) -> dict[str, Any]:
    """Raises UnknownTemplate (a LookupError) naming the known templates."""
    template = get_template(name)
    return {
        **template_summary(template),
        "test_functions": [
            {
                "name": function.name,
                "description": function.description,
                "parameters": function.parameters_schema(),
            }
            for function in sorted(template.functions.values(), key=lambda f: f.name)
        ],
    }


def catalogue() -> list[dict[str, Any]]:
    return [template_summary(get_template(name)) for name in known_templates()]
