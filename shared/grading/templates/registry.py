"""The templates this engine knows, by name."""

from shared.grading.errors import UnknownTemplate
from shared.grading.templates.ai import AI
from shared.grading.templates.api import API
from shared.grading.templates.base import Template
from shared.grading.templates.input_output import INPUT_OUTPUT
from shared.grading.templates.static_analysis import STATIC_ANALYSIS
from shared.grading.templates.webdev import WEBDEV

_TEMPLATES: dict[str, Template] = {
    template.name: template for template in (INPUT_OUTPUT, AI, WEBDEV, STATIC_ANALYSIS, API)
}


def known_templates() -> list[str]:
    return sorted(_TEMPLATES)


def get_template(name: str) -> Template:
    try:
        return _TEMPLATES[name]
    except KeyError:
        known = ", ".join(known_templates())
        raise UnknownTemplate(f"unknown template {name!r}; known templates: {known}") from None
