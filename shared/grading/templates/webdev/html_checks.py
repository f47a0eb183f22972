"""Checks of one HTML page: tags, classes, attributes, headings, images and its stylesheet."""

import re
from itertools import pairwise
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, Tag
from pydantic import AfterValidator, BeforeValidator, Field

from shared.grading.messages import say, say_count
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
    required_count: RequiredCount = 0


class ForbiddenTagParams(HtmlParams):
    tag: TagName


class ClassParams(HtmlParams):
    class_names: Annotated[
        list[NonEmptyText],
        BeforeValidator(one_or_many),
        Field(min_length=1, description="Class names; '*' matches any characters ('col-*')."),
    ]
    required_count: RequiredCount = Field(
        default=0, description="How many matches are needed, all class names together."
    )
    scoring: Literal["all_matches", "per_class"] = Field(
        default="all_matches",
        description="all_matches (the reference's rule): every class of every element that "
        "matches a name counts once, against required_count; per_class: each name needs "
        "required_count elements and the scores are averaged.",
    )


class AttributeParams(HtmlParams):
    attribute: Annotated[str, AfterValidator(_attribute_name)]
    tag: TagName | None = Field(default=None, description="Only count elements of this tag.")
    required_count: RequiredCount = 0


class CssLinkedParams(HtmlParams):
    css_file: RelativePath | None = Field(
        default=None,
        description="The stylesheet of the submission that must be linked; by default any "
        "stylesheet link counts.",
    )
    own_stylesheet: bool = Field(
        default=False,
        description='false (the reference\'s rule): any <link rel="stylesheet"> passes, '
        "a CDN's too; true: it must link a stylesheet of the submission, and none may be "
        "missing.",
    )


def has_tag(ctx: GradeContext, params: TagParams) -> TestOutcome:
    found = len(tags(html_page(ctx, params.html_file), params.tag))
    message = say(
        ctx,
        "webdev.html.tag_count",
        file=params.html_file,
        elements=say_count(ctx, "webdev.count.tag_element", found, tag=params.tag),
        required=params.required_count,
    )
    return outcome(share_score(found, params.required_count), message)


def has_forbidden_tag(ctx: GradeContext, params: ForbiddenTagParams) -> TestOutcome:
    found = tags(html_page(ctx, params.html_file), params.tag)
    if not found:
        return passed(say(ctx, "webdev.html.tag_unused", file=params.html_file, tag=params.tag))
    return failed(
        say(
            ctx,
            "webdev.html.forbidden_tag_used",
            tag=params.tag,
            file=params.html_file,
            times=say_count(ctx, "webdev.count.time", len(found)),
            lines=listed(ctx, (at_line(ctx, element) for element in found)),
        )
    )


def has_class(ctx: GradeContext, params: ClassParams) -> TestOutcome:
    page = html_page(ctx, params.html_file)
    required = params.required_count
    if params.scoring == "per_class":
        return _per_class(ctx, params, page)
    matches = {name: _class_matches(page, name) for name in params.class_names}
    total = sum(len(found) for found in matches.values())
    lines = [_class_count_line(ctx, name, found) for name, found in matches.items()]
    header = say(
        ctx, "webdev.html.class_matches", file=params.html_file, found=total, required=required
    )
    return outcome(share_score(total, required), "\n".join([header, *lines]))


def _per_class(ctx: GradeContext, params: ClassParams, page: BeautifulSoup) -> TestOutcome:
    """The explicit alternative: each name needs required_count elements; averaged."""
    counts = {name: _elements_with_class(page, name) for name in params.class_names}
    required = params.required_count
    shares = [share_score(len(found), required) for found in counts.values()]
    lines = [_class_line(ctx, name, found, required) for name, found in counts.items()]
    needed = say_count(ctx, "webdev.count.element", required)
    header = say(ctx, "webdev.html.classes_header", file=params.html_file, needed=needed)
    return outcome(sum(shares) / len(shares), "\n".join([header, *lines]))


def _class_matches(page: BeautifulSoup, class_name: str) -> list[str]:
    """Every class, of every element, that `class_name` matches ('*': any characters)."""
    pattern = wildcard(class_name, ".*")
    return [
        found
        for element in tags(page)
        for found in element.get_attribute_list("class")
        if found and pattern.fullmatch(found)
    ]


def _class_count_line(ctx: GradeContext, name: str, found: list[str]) -> str:
    shown = f" ({listed(ctx, dict.fromkeys(found))})" if "*" in name and found else ""
    return say(ctx, "webdev.html.class_count", name=name, found=len(found), shown=shown)


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


def _class_line(ctx: GradeContext, name: str, found: list[str], required: int) -> str:
    elements = say_count(ctx, "webdev.count.element", len(found))
    if "*" in name and found:
        elements += f" ({listed(ctx, dict.fromkeys(found))})"
    if len(found) >= required:
        return say(ctx, "webdev.html.class_enough", name=name, elements=elements)
    return say(ctx, "webdev.html.class_short", name=name, elements=elements, required=required)


def has_attribute(ctx: GradeContext, params: AttributeParams) -> TestOutcome:
    elements = tags(html_page(ctx, params.html_file), params.tag)
    found = sum(1 for element in elements if element.has_attr(params.attribute))
    message = say(
        ctx,
        "webdev.html.attribute_count",
        file=params.html_file,
        elements=_elements(ctx, found, params.tag),
        attribute=params.attribute,
        required=params.required_count,
    )
    return outcome(share_score(found, params.required_count), message)


def _elements(ctx: GradeContext, count: int, tag: str | None) -> str:
    """ "3 elements", or "3 <img> elements" when counting one tag."""
    if tag is None:
        return say_count(ctx, "webdev.count.element", count)
    return say_count(ctx, "webdev.count.tag_element", count, tag=tag)


def check_headings_sequential(ctx: GradeContext, params: HtmlParams) -> TestOutcome:
    page = html_page(ctx, params.html_file)
    headings = [element for element in tags(page) if _HEADING.fullmatch(element.name)]
    if not headings:
        return passed(say(ctx, "webdev.html.no_headings", file=params.html_file))
    skips = [(before, after) for before, after in pairwise(headings) if _skips(before, after)]
    if not skips:
        return passed(say(ctx, "webdev.html.headings_in_order", file=params.html_file))
    problems = "; ".join(_skip_text(ctx, before, after) for before, after in skips)
    return failed(say(ctx, "webdev.html.headings_skip", file=params.html_file, problems=problems))


def _level(heading: Tag) -> int:
    return int(heading.name[1])


def _skips(before: Tag, after: Tag) -> bool:
    return _level(after) > _level(before) + 1


def _skip_text(ctx: GradeContext, before: Tag, after: Tag) -> str:
    return say(
        ctx,
        "webdev.html.heading_skipped",
        heading=after.name,
        title=after.get_text(" ", strip=True)[:40],
        line=at_line(ctx, after),
        previous=before.name,
    )


def check_all_images_have_alt(ctx: GradeContext, params: HtmlParams) -> TestOutcome:
    images = tags(html_page(ctx, params.html_file), "img")
    if not images:
        return passed(say(ctx, "webdev.html.no_images", file=params.html_file))
    missing = [image for image in images if not str(image.get("alt") or "").strip()]
    with_alt = len(images) - len(missing)
    message = say(
        ctx,
        "webdev.html.images_with_alt",
        with_alt=with_alt,
        images=say_count(ctx, "webdev.count.image", len(images)),
        file=params.html_file,
    )
    if missing:
        shown = listed(ctx, (_image_text(ctx, image) for image in missing))
        message += " " + say(ctx, "webdev.html.images_without_alt", images=shown)
    return outcome(share_score(with_alt, len(images)), message)


def _image_text(ctx: GradeContext, image: Tag) -> str:
    return f"{image.get('src') or '<img>'} ({at_line(ctx, image)})"


def check_css_linked(ctx: GradeContext, params: CssLinkedParams) -> TestOutcome:
    page = html_page(ctx, params.html_file)
    if params.css_file is None and not params.own_stylesheet:
        return _any_stylesheet_link(ctx, params.html_file, page)
    hrefs = [str(link.get("href") or "") for link in tags(page, "link") if _is_stylesheet(link)]
    if not hrefs:
        return failed(say(ctx, "webdev.html.no_stylesheet_link", file=params.html_file))
    targets = {href: _linked_path(params.html_file, href) for href in hrefs}
    files = submission_files(ctx)
    broken = [path for path in targets.values() if path is not None and path not in files]
    if broken:
        paths = listed(ctx, broken)
        return failed(say(ctx, "webdev.html.broken_link", file=params.html_file, paths=paths))
    if params.css_file is not None:
        return _links_named_stylesheet(ctx, params.html_file, params.css_file, targets)
    return _links_own_stylesheet(ctx, params.html_file, targets)


def _any_stylesheet_link(ctx: GradeContext, html_file: str, page: BeautifulSoup) -> TestOutcome:
    """The reference's rule: a <link> whose rel has the word "stylesheet", as written
    (case-sensitive), whatever it points to."""
    links = [link for link in tags(page, "link") if "stylesheet" in link.get_attribute_list("rel")]
    if not links:
        return failed(say(ctx, "webdev.html.no_stylesheet_link", file=html_file))
    hrefs = listed(ctx, (str(link.get("href") or '""') for link in links))
    return passed(say(ctx, "webdev.html.links_stylesheet", file=html_file, links=hrefs))


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
    ctx: GradeContext, html_file: str, css_file: str, targets: dict[str, str | None]
) -> TestOutcome:
    if css_file in targets.values():
        return passed(say(ctx, "webdev.html.links_named", file=html_file, css_file=css_file))
    return failed(
        say(
            ctx,
            "webdev.html.links_other",
            file=html_file,
            css_file=css_file,
            links=listed(ctx, targets),
        )
    )


def _links_own_stylesheet(
    ctx: GradeContext, html_file: str, targets: dict[str, str | None]
) -> TestOutcome:
    own = [path for path in targets.values() if path is not None]
    if own:
        return passed(say(ctx, "webdev.html.links_own", file=html_file, css_files=listed(ctx, own)))
    return failed(
        say(ctx, "webdev.html.links_only_external", file=html_file, links=listed(ctx, targets))
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
        "Counts the classes matching the names (wildcards like 'col-*'); partial credit "
        "for found/required_count.",
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
        'Passes when the page has a <link rel="stylesheet"> (own_stylesheet: to a stylesheet '
        "of the submission; css_file: to that one).",
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
