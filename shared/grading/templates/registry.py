"""The templates this engine knows, by name."""

from shared.grading.errors import UnknownTemplate
from shared.grading.templates.base import Template
from shared.grading.templates.input_output import INPUT_OUTPUT

_TEMPLATES: dict[str, Template] = {template.name: template for template in (INPUT_OUTPUT,)}


def known_templates() -> list[str]:
    return sorted(_TEMPLATES)


def get_template(name: str) -> Template:
    try:
        return _TEMPLATES[name]
    except KeyError:
        known = ", ".join(known_templates())
        raise UnknownTemplate(f"unknown template {name!r}; known templates: {known}") from None
