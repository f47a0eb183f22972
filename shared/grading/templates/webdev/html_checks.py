"""Checks of one HTML page: tags, classes, attributes, headings, images and its stylesheet."""

import re
from itertools import pairwise
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, Tag
from pydantic import AfterValidator, BeforeValidator, Field

from shared.grading.ports import GradeContext
from shared.grading.templates.base import TestFunction, TestOutcome
from shared.grading.templates.webdev.common import (
    HtmlParams,
    NonEmptyText,
    RelativePath,
    RequiredCount,
    TagName,
    failed,
    listed,
    normalized_path,
    one_or_many,
    outcome,
    passed,
    plural,
    share_score,
    webdev_function,
    wildcard,
)
from shared.grading.templates.webdev.files import at_line, html_page, submission_files, tags

_HEADING = re.compile(r"h[1-6]")
_ATTRIBUTE_NAME = re.compile(r"[^\s\"'>/=]+")


def _attribute_name(name: str) -> str:
    cleaned = name.strip().lower()
    if not _ATTRIBUTE_NAME.fullmatch(cleaned):
        raise ValueError("must be an HTML attribute name like 'alt' or 'href'")
    return cleaned


class TagParams(HtmlParams):
    tag: TagName
    required_count: RequiredCount = 1


class ForbiddenTagParams(HtmlParams):
    tag: TagName


class ClassParams(HtmlParams):
    class_names: Annotated[
        list[NonEmptyText],
        BeforeValidator(one_or_many),
        Field(min_length=1, description="Class names; '*' matches any characters ('col-*')."),
    ]
    required_count: RequiredCount = Field(
        default=1, description="How many elements each class name needs."
    )


class AttributeParams(HtmlParams):
    attribute: Annotated[str, AfterValidator(_attribute_name)]
    tag: TagName | None = Field(default=None, description="Only count elements of this tag.")
    required_count: RequiredCount = 1


class CssLinkedParams(HtmlParams):
    css_file: RelativePath | None = Field(
        default=None, description="The stylesheet that must be linked; by default any of yours."
    )


def has_tag(ctx: GradeContext, params: TagParams) -> TestOutcome:
    found = len(tags(html_page(ctx, params.html_file), params.tag))
    elements = plural(found, f"<{params.tag}> element")
    message = f"{params.html_file} has {elements}; {params.required_count} required."
    return outcome(share_score(found, params.required_count), message)


def has_forbidden_tag(ctx: GradeContext, params: ForbiddenTagParams) -> TestOutcome:
    found = tags(html_page(ctx, params.html_file), params.tag)
    if not found:
        return passed(f"{params.html_file} does not use <{params.tag}>.")
    lines = listed(at_line(element) for element in found)
    return failed(
        f"<{params.tag}> is not allowed, but {params.html_file} uses it "
        f"{plural(len(found), 'time')} ({lines})."
    )


def has_class(ctx: GradeContext, params: ClassParams) -> TestOutcome:
    page = html_page(ctx, params.html_file)
    counts = {name: _elements_with_class(page, name) for name in params.class_names}
    required = params.required_count
    shares = [share_score(len(found), required) for found in counts.values()]
    lines = [_class_line(name, found, required) for name, found in counts.items()]
    header = f"Classes in {params.html_file} ({plural(required, 'element')} needed for each):"
    return outcome(sum(shares) / len(shares), "\n".join([header, *lines]))


def _elements_with_class(page: BeautifulSoup, class_name: str) -> list[str]:
    """The matching class of each element that has one matching `class_name`."""
    pattern = wildcard(class_name, ".*")
    matches = []
    for element in tags(page):
        classes = element.get_attribute_list("class")
        matching = [found for found in classes if found and pattern.fullmatch(found)]
        if matching:
            matches.append(matching[0])
    return matches


def _class_line(name: str, found: list[str], required: int) -> str:
    line = f"- {name}: {plural(len(found), 'element')}"
    if "*" in name and found:
        line += f" ({listed(dict.fromkeys(found))})"
    return line + (" - enough" if len(found) >= required else f" - {required} needed")


def has_attribute(ctx: GradeContext, params: AttributeParams) -> TestOutcome:
    elements = tags(html_page(ctx, params.html_file), params.tag)
    found = sum(1 for element in elements if element.has_attr(params.attribute))
    kind = f"<{params.tag}> element" if params.tag else "element"
    score = share_score(found, params.required_count)
    message = (
        f"{params.html_file} has {plural(found, kind)} with the {params.attribute} attribute; "
        f"{params.required_count} required."
    )
    return outcome(score, message)


def check_headings_sequential(ctx: GradeContext, params: HtmlParams) -> TestOutcome:
    page = html_page(ctx, params.html_file)
    headings = [element for element in tags(page) if _HEADING.fullmatch(element.name)]
    if not headings:
        return passed(f"{params.html_file} has no headings (<h1> to <h6>), so none skip a level.")
    skips = [(before, after) for before, after in pairwise(headings) if _skips(before, after)]
    if not skips:
        return passed(f"The headings in {params.html_file} never skip a level.")
    problems = "; ".join(_skip_text(before, after) for before, after in skips)
    return failed(
        f"The headings in {params.html_file} skip levels: {problems}. "
        "Go down one level at a time (<h1>, then <h2>, then <h3>)."
    )


def _level(heading: Tag) -> int:
    return int(heading.name[1])


def _skips(before: Tag, after: Tag) -> bool:
    return _level(after) > _level(before) + 1


def _skip_text(before: Tag, after: Tag) -> str:
    title = after.get_text(" ", strip=True)[:40]
    return f'<{after.name}> "{title}" ({at_line(after)}) comes right after <{before.name}>'


def check_all_images_have_alt(ctx: GradeContext, params: HtmlParams) -> TestOutcome:
    images = tags(html_page(ctx, params.html_file), "img")
    if not images:
        return passed(f"{params.html_file} has no images (<img>), so none lack alt text.")
    missing = [image for image in images if not str(image.get("alt") or "").strip()]
    score = share_score(len(images) - len(missing), len(images))
    message = f"{len(images) - len(missing)} of the {plural(len(images), 'image')} in "
    message += f"{params.html_file} have alt text."
    if missing:
        message += f" Missing or empty alt: {listed(_image_text(image) for image in missing)}."
    return outcome(score, message)


def _image_text(image: Tag) -> str:
    return f"{image.get('src') or '<img>'} ({at_line(image)})"


def check_css_linked(ctx: GradeContext, params: CssLinkedParams) -> TestOutcome:
    page = html_page(ctx, params.html_file)
    hrefs = [str(link.get("href") or "") for link in tags(page, "link") if _is_stylesheet(link)]
    if not hrefs:
        return failed(
            f'{params.html_file} has no <link rel="stylesheet" href="..."> to a CSS file.'
        )
    targets = {href: _linked_path(params.html_file, href) for href in hrefs}
    files = submission_files(ctx)
    broken = [path for path in targets.values() if path is not None and path not in files]
    if broken:
        return failed(
            f"{params.html_file} links {listed(broken)}, but your submission has no such file."
        )
    if params.css_file is not None:
        return _links_named_stylesheet(params.html_file, params.css_file, targets)
    return _links_own_stylesheet(params.html_file, targets)


def _is_stylesheet(link: Tag) -> bool:
    return "stylesheet" in (rel.lower() for rel in link.get_attribute_list("rel") if rel)


def _linked_path(html_file: str, href: str) -> str | None:
    """The submission path `href` points to; None for a stylesheet on another site."""
    parts = urlsplit(href.strip())
    if parts.scheme or parts.netloc:
        return None
    path = unquote(parts.path)
    if path.startswith("/"):
        return normalized_path(path)
    folder = html_file.rpartition("/")[0]
    return normalized_path(f"{folder}/{path}" if folder else path)


def _links_named_stylesheet(
    html_file: str, css_file: str, targets: dict[str, str | None]
) -> TestOutcome:
    if css_file in targets.values():
        return passed(f"{html_file} links {css_file}.")
    return failed(f"{html_file} does not link {css_file}; it links {listed(targets)}.")


def _links_own_stylesheet(html_file: str, targets: dict[str, str | None]) -> TestOutcome:
    own = [path for path in targets.values() if path is not None]
    if own:
        return passed(f"{html_file} links your stylesheet {listed(own)}.")
    return failed(
        f"{html_file} links only stylesheets from other sites ({listed(targets)}); "
        "link a CSS file of your own."
    )


HTML_FUNCTIONS: tuple[TestFunction[Any], ...] = (
    webdev_function(
        "has_tag",
        "Counts an HTML tag in the page; partial credit for found/required_count.",
        TagParams,
        has_tag,
    ),
    webdev_function(
        "has_class",
        "Counts elements carrying each class (wildcards like 'col-*'); partial credit "
        "averaged over the class names.",
        ClassParams,
        has_class,
    ),
    webdev_function(
        "has_attribute",
        "Counts elements (optionally of one tag) that have an attribute; partial credit.",
        AttributeParams,
        has_attribute,
    ),
    webdev_function(
        "has_forbidden_tag",
        "Fails when the page uses a tag that is not allowed.",
        ForbiddenTagParams,
        has_forbidden_tag,
    ),
    webdev_function(
        "check_css_linked",
        'Passes when the page links a stylesheet (<link rel="stylesheet">) that is in the '
        "submission (or the one named by css_file).",
        CssLinkedParams,
        check_css_linked,
    ),
    webdev_function(
        "check_headings_sequential",
        "Fails when a heading is more than one level deeper than the one before (h1 -> h3).",
        HtmlParams,
        check_headings_sequential,
    ),
    webdev_function(
        "check_all_images_have_alt",
        "Scores the share of <img> elements with non-empty alt text.",
        HtmlParams,
        check_all_images_have_alt,
    ),
)
