"""The webdev template: static checks of HTML, CSS and JavaScript files in a submission."""

from typing import Any, get_args

import pytest

from shared.grading.criteria import build_tree
from shared.grading.errors import CriteriaProblem, InvalidCriteria
from shared.grading.ports import GradeContext
from shared.grading.scoring import grade
from shared.grading.templates import TestOutcome, get_template
from shared.grading.templates.webdev.js_checks import FEATURES, JsFeature


async def run(function: str, files: dict[str, str], **params: Any) -> TestOutcome:
    test_function = get_template("webdev").functions[function]
    validated = test_function.params_model.model_validate(params)
    return await test_function.run(GradeContext("web", files, runner=None), validated)


async def graded(test: dict[str, Any], files: dict[str, str]) -> float:
    """The score of one test of a criteria config: the tree gives the function its `file`."""
    tree = build_tree({"base": {"tests": [test]}}, ["webdev"])
    return (await grade(tree, GradeContext("web", files, None))).final_score


def page(body: str, head: str = "") -> str:
    return f"<!DOCTYPE html>\n<html>\n<head>{head}</head>\n<body>\n{body}\n</body>\n</html>\n"


def problems(test: dict[str, Any]) -> list[CriteriaProblem]:
    with pytest.raises(InvalidCriteria) as raised:
        build_tree({"base": {"tests": [test]}}, ["webdev"])
    return raised.value.errors


def assert_passed(outcome: TestOutcome) -> None:
    assert (outcome.score, outcome.verdict) == (100, "passed"), outcome.message


def assert_failed(outcome: TestOutcome, score: float = 0) -> None:
    assert outcome.verdict == "failed", outcome.message
    assert outcome.score == pytest.approx(score)


SECTIONS = page("<section>a</section>\n<section>b</section>\n<div>c</div>")


# --- has_tag ------------------------------------------------------------------------


async def test_has_tag_passes_with_enough_tags() -> None:
    outcome = await run("has_tag", {"index.html": SECTIONS}, tag="section", required_count=2)
    assert_passed(outcome)
    assert "index.html has 2 <section> elements; 2 required" in outcome.message


async def test_has_tag_gives_partial_credit_for_found_over_required() -> None:
    outcome = await run("has_tag", {"index.html": SECTIONS}, tag="section", required_count=3)
    assert_failed(outcome, score=66)  # the reference's int(2 / 3 * 100): whole percent
    assert "2 <section> elements; 3 required" in outcome.message


async def test_has_tag_caps_the_score_at_100_and_accepts_a_bracketed_tag() -> None:
    outcome = await run("has_tag", {"index.html": SECTIONS}, tag="<SECTION>")
    assert_passed(outcome)


async def test_has_tag_looks_at_the_named_page() -> None:
    files = {"index.html": page(""), "pages/about.html": SECTIONS}
    outcome = await run("has_tag", files, tag="section", html_file="./pages/about.html")
    assert_passed(outcome)
    assert "pages/about.html" in outcome.message


async def test_a_missing_page_fails_with_a_clear_message() -> None:
    outcome = await run("has_tag", {"main.html": SECTIONS}, tag="section")
    assert_failed(outcome)
    assert outcome.message == "index.html was not found in your submission."


async def test_a_page_named_in_another_case_is_pointed_out() -> None:
    outcome = await run("has_tag", {"Index.html": SECTIONS}, tag="section")
    assert_failed(outcome)
    assert "There is Index.html" in outcome.message
    assert "case-sensitive" in outcome.message


# --- has_class ----------------------------------------------------------------------

GRID = page(
    '<div class="row">\n'
    '  <div class="col-6 col-md-4 card">a</div>\n'
    '  <div class="column">b</div>\n'
    '  <button class="btn btn-primary">ok</button>\n'
    '  <a class="btn">link</a>\n'
    "</div>"
)


async def test_has_class_counts_every_matching_class_of_every_element() -> None:
    # The reference's rule: col-6 and col-md-4 on one element are two matches.
    outcome = await run("has_class", {"index.html": GRID}, class_names=["col-*"], required_count=2)
    assert_passed(outcome)
    assert "- col-*: 2 (col-6, col-md-4)" in outcome.message


async def test_a_wildcard_does_not_match_without_its_literal_part() -> None:
    # "column" has no "col-" prefix, so it is not a col-* class: 2 of 3 -> int(66.67) = 66.
    outcome = await run("has_class", {"index.html": GRID}, class_names="col-*", required_count=3)
    assert_failed(outcome, score=66)
    assert "2 matching; 3 required" in outcome.message


async def test_has_class_scores_all_matches_together_as_the_reference_does() -> None:
    """Issue 9: the reference counts every match of every name and divides once
    (btn 2 + col-* 2 + navbar 0 = 4 of 5 -> 80); main averaged per name (2/2, 2/2, 0/2
    -> 66.67), so the reference's own web_dev example scored 62.86 instead of 80.0."""
    names = ["btn", "col-*", "navbar"]
    outcome = await run("has_class", {"index.html": GRID}, class_names=names, required_count=5)
    assert_failed(outcome, score=80)
    assert "4 matching; 5 required" in outcome.message
    assert "- navbar: 0" in outcome.message


async def test_has_class_without_a_required_count_is_full_marks_as_in_the_reference() -> None:
    outcome = await run("has_class", {"index.html": page("<p>none</p>")}, class_names="btn")
    assert_passed(outcome)


async def test_per_class_scoring_is_an_explicit_choice() -> None:
    # btn: 2 of 2 elements (full), col-*: 1 of 2 (half), navbar: 0 of 2 -> (1 + 0.5 + 0) / 3
    names = ["btn", "col-*", "navbar"]
    outcome = await run(
        "has_class",
        {"index.html": GRID},
        class_names=names,
        required_count=2,
        scoring="per_class",
    )
    assert_failed(outcome, score=100 * (1 + 0.5 + 0) / 3)
    assert "- btn: 2 elements - enough" in outcome.message
    assert "- navbar: 0 elements - 2 needed" in outcome.message


# --- has_attribute ------------------------------------------------------------------

IMAGES = page(
    '<img src="logo.png" alt="Our logo">\n'
    '<img src="cat.png">\n'
    '<img src="dog.png" alt="  ">\n'
    '<a href="#" title="Home">home</a>'
)


async def test_has_attribute_counts_elements_with_the_attribute() -> None:
    outcome = await run(
        "has_attribute", {"index.html": IMAGES}, attribute="alt", tag="img", required_count=2
    )
    assert_passed(outcome)
    assert "2 <img> elements with the alt attribute" in outcome.message


async def test_has_attribute_gives_partial_credit() -> None:
    outcome = await run(
        "has_attribute", {"index.html": IMAGES}, attribute="title", required_count=4
    )
    assert_failed(outcome, score=100 * 1 / 4)
    assert "1 element with the title attribute; 4 required" in outcome.message


# --- has_forbidden_tag --------------------------------------------------------------


async def test_a_forbidden_tag_fails_naming_its_lines() -> None:
    html = page("<marquee>hi</marquee>\n<p>text</p>\n<marquee>again</marquee>")
    outcome = await run("has_forbidden_tag", {"index.html": html}, tag="marquee")
    assert_failed(outcome)
    assert "<marquee> is not allowed" in outcome.message
    assert "2 times (line 5, line 7)" in outcome.message


async def test_no_forbidden_tag_passes() -> None:
    outcome = await run("has_forbidden_tag", {"index.html": SECTIONS}, tag="font")
    assert_passed(outcome)


# --- check_css_linked ---------------------------------------------------------------


def linking(href: str, rel: str = "stylesheet") -> str:
    return page("<p>x</p>", head=f'<link rel="{rel}" href="{href}">')


async def test_a_linked_stylesheet_in_the_submission_passes() -> None:
    files = {"index.html": linking("css/style.css?v=2"), "css/style.css": "p { color: red }"}
    outcome = await run("check_css_linked", files)
    assert_passed(outcome)
    assert "css/style.css" in outcome.message


async def test_check_css_linked_passes_any_stylesheet_link_as_the_reference_does() -> None:
    # The reference: soup.find("link", rel="stylesheet") is not None -> 100, else 0. bs4
    # compares each rel word as written: a CDN's or a missing file passes, "Stylesheet" not.
    cdn = {"index.html": linking("https://cdn.example.org/bootstrap.min.css")}
    assert await graded({"name": "check_css_linked"}, cdn) == 100
    missing = {"index.html": linking("styles.css", rel="alternate stylesheet")}
    assert await graded({"name": "check_css_linked"}, missing) == 100
    capitalised = {"index.html": linking("style.css", rel="Stylesheet"), "style.css": ""}
    assert await graded({"name": "check_css_linked"}, capitalised) == 0
    outcome = await run("check_css_linked", cdn)
    assert outcome.message == (
        "index.html links a stylesheet: https://cdn.example.org/bootstrap.min.css."
    )


async def test_a_link_to_a_missing_stylesheet_fails_when_it_must_be_your_own() -> None:
    files = {"index.html": linking("styles.css")}
    outcome = await run("check_css_linked", files, own_stylesheet=True)
    assert_failed(outcome)
    assert outcome.message == "index.html links styles.css, but your submission has no such file."


async def test_a_page_without_a_stylesheet_link_fails() -> None:
    files = {"index.html": page("<p>x</p>"), "style.css": "p { color: red }"}
    outcome = await run("check_css_linked", files)
    assert_failed(outcome)
    assert '<link rel="stylesheet"' in outcome.message


async def test_only_stylesheets_from_other_sites_fail_when_it_must_be_your_own() -> None:
    files = {"index.html": linking("https://cdn.example.org/bootstrap.min.css")}
    outcome = await run("check_css_linked", files, own_stylesheet=True)
    assert_failed(outcome)
    assert "link a CSS file of your own" in outcome.message


async def test_the_named_stylesheet_is_resolved_from_the_pages_folder() -> None:
    files = {"pages/about.html": linking("../css/site.css", rel="Stylesheet"), "css/site.css": ""}
    params = {"html_file": "pages/about.html", "css_file": "css/site.css"}
    assert_passed(await run("check_css_linked", files, **params))
    other = {**files, "css/other.css": ""}
    outcome = await run("check_css_linked", other, **{**params, "css_file": "css/other.css"})
    assert_failed(outcome)
    assert "does not link css/other.css; it links ../css/site.css" in outcome.message


# --- check_headings_sequential ------------------------------------------------------


async def test_headings_going_down_one_level_at_a_time_pass() -> None:
    html = page("<h1>A</h1><h2>B</h2><h3>C</h3><h2>D</h2><h3>E</h3><h1>F</h1>")
    assert_passed(await run("check_headings_sequential", {"index.html": html}))


async def test_a_heading_that_skips_a_level_fails_and_is_named() -> None:
    html = page("<h1>Title</h1>\n<h3>Details</h3>")
    outcome = await run("check_headings_sequential", {"index.html": html})
    assert_failed(outcome)
    assert '<h3> "Details" (line 6) comes right after <h1>' in outcome.message


async def test_a_page_without_headings_has_nothing_to_skip() -> None:
    assert_passed(await run("check_headings_sequential", {"index.html": page("<p>x</p>")}))


# --- check_all_images_have_alt ------------------------------------------------------


async def test_the_score_is_the_share_of_images_with_alt_text() -> None:
    outcome = await run("check_all_images_have_alt", {"index.html": IMAGES})
    assert_failed(outcome, score=33)  # whole percent, truncated, as in the reference
    assert "1 of the 3 images in index.html have alt text" in outcome.message
    assert "cat.png (line 6), dog.png (line 7)" in outcome.message


async def test_all_images_with_alt_and_no_images_pass() -> None:
    html = page('<img src="a.png" alt="A"><img src="b.png" alt="B">')
    assert_passed(await run("check_all_images_have_alt", {"index.html": html}))
    assert_passed(await run("check_all_images_have_alt", {"index.html": page("")}))


# --- CSS ----------------------------------------------------------------------------

STYLE = """/* color: blue; display: flex; @media (x) { } !important */
body { color: black; font-family: Arial, sans-serif; }
.nav { display: inline-flex; margin: 0 auto !important; }
.card { display: block; color: red !important; }
@media (max-width: 600px) {
  .nav { display: grid; }
}
"""


async def test_has_style_counts_style_text_as_the_reference_does() -> None:
    css = "/* color: blue; */\nbody { background-color: white; color: black; }\n.a { COLOR: red }"
    # The reference: len(re.findall(r"color\s*:\s*[^;]+;", css, re.I)) -> "color: blue;"
    # (a comment), "color: white;" (in background-color), "color: black;" = 3; "COLOR: red }"
    # has no ";" after it. count 4 -> int(3 / 4 * 100) = 75.
    test = {"name": "has_style", "file": "style.css", "style": "color", "count": 4}
    assert await graded(test, {"style.css": css}) == 75
    outcome = await run("has_style", {"style.css": css}, style="color", count=4)
    assert '"color: ...;" appears 3 times in your CSS (style.css); 4 required.' in outcome.message
    # Syntax mode counts declarations of color only: black and red -> int(2 / 4 * 100) = 50.
    syntax = await run("has_style", {"style.css": css}, style="color", count=4, match="syntax")
    assert_failed(syntax, score=50)


async def test_has_style_reads_a_named_page_whole_as_the_reference_does() -> None:
    html = page('<p style="color: red;">x</p>', head="<style>p { color: blue; }</style>")
    # The reference runs its regex on the page's text: both "color: ...;" count -> 2 of 2.
    test = {"name": "has_style", "file": "index.html", "style": "color", "count": 2}
    assert await graded(test, {"index.html": html, "style.css": ""}) == 100


async def test_has_style_syntax_mode_counts_declarations_not_comments() -> None:
    params = {"property": "color", "required_count": 3, "match": "syntax"}
    outcome = await run("has_style", {"style.css": STYLE}, **params)
    assert_failed(outcome, score=66)
    assert "color is set 2 times in your CSS (style.css); 3 required" in outcome.message


async def test_has_style_counts_inline_styles_when_no_file_is_named() -> None:
    files = {"style.css": STYLE, "index.html": page('<p style="color: green">x</p>')}
    params = {"style": "color", "count": 3, "match": "syntax"}
    outcome = await run("has_style", files, **params)
    assert_passed(outcome)
    assert "in your CSS (style.css, index.html)" in outcome.message
    only_the_file = await run("has_style", files, **params, css_file="style.css")
    assert_failed(only_the_file, score=66)


async def test_has_style_syntax_mode_counts_a_style_element_of_a_named_page() -> None:
    html = page("<p>x</p>", head="<style>\np { color: red; }\n</style>")
    params = {"property": "color", "css_file": "index.html", "match": "syntax"}
    assert_passed(await run("has_style", {"index.html": html}, **params))


async def test_a_missing_stylesheet_or_no_css_at_all_fails() -> None:
    outcome = await run("has_style", {"index.html": page("")}, property="color", css_file="a.css")
    assert_failed(outcome)
    assert outcome.message == "a.css was not found in your submission."
    outcome = await run("check_flexbox_usage", {"index.html": page("")})
    assert_failed(outcome)
    assert "No CSS was found in your submission" in outcome.message
    assert await graded({"name": "check_flexbox_usage", "file": "css/a.css"}, {}) == 0


async def test_css_uses_property_finds_the_value_later_on_the_line_as_the_reference_does() -> None:
    # The reference: re.search(r"display\s*:\s*.*flex", css, re.I); ".*" stays on one
    # line but crosses ";" and "}", so display: block followed by .b's flex matches -> 100.
    same_line = {"style.css": ".a { display: block; } .b { flex: 1; }"}
    test = {"name": "css_uses_property", "file": "style.css", "prop": "display", "value": "flex"}
    assert await graded(test, same_line) == 100
    # On the next line it is not found -> 0.
    next_line = {"style.css": ".a { display: block; }\n.b { flex: 1; }"}
    assert await graded(test, next_line) == 0
    # Syntax mode compares the declared value: display is block -> 0.
    syntax = {"prop": "display", "value": "flex", "match": "syntax"}
    assert_failed(await run("css_uses_property", same_line, **syntax))


@pytest.mark.parametrize(
    ("params", "verdict"),
    [
        ({"property": "display", "value": "grid"}, "passed"),  # inside @media
        ({"property": "font-family", "value": "sans-serif"}, "passed"),  # one of the values
        ({"prop": "margin", "value": "auto"}, "passed"),
        ({"property": "MARGIN", "value": "0   AUTO"}, "passed"),
        ({"property": "font-family"}, "passed"),  # any value
        ({"property": "display", "value": "flex"}, "failed"),  # inline-flex is not flex
        ({"property": "color", "value": "blue"}, "failed"),  # only in a comment
        ({"property": "gap"}, "failed"),
    ],
)
async def test_css_uses_property_in_syntax_mode(params: dict[str, str], verdict: str) -> None:
    outcome = await run("css_uses_property", {"style.css": STYLE}, **params, match="syntax")
    assert outcome.verdict == verdict, outcome.message


async def test_css_uses_property_names_where_it_is_and_what_was_set_instead() -> None:
    found = await run("css_uses_property", {"style.css": STYLE}, prop="display", value="grid")
    assert "display: grid is used in your CSS (style.css): style.css line 6." in found.message
    params = {"prop": "display", "value": "flex", "match": "syntax"}
    missing = await run("css_uses_property", {"style.css": STYLE}, **params)
    assert "display: flex was not found in your CSS (style.css)" in missing.message
    assert "display is set to: inline-flex, block, grid" in missing.message


async def test_check_media_queries_matches_media_text_as_the_reference_does() -> None:
    # The reference: re.search(r"@media\s+[^{]+\{", css): one in a comment counts -> 100;
    # "@media(" with no space after it does not -> 0.
    in_a_comment = {"style.css": "/* @media print { } */\np { color: red; }"}
    assert await graded({"name": "check_media_queries", "file": "style.css"}, in_a_comment) == 100
    no_space = {"style.css": "@media(max-width: 600px) { p { color: red; } }"}
    assert await graded({"name": "check_media_queries", "file": "style.css"}, no_space) == 0
    # Syntax mode counts @media rules: the real one, not the comment.
    assert_passed(await run("check_media_queries", no_space, match="syntax"))
    assert_failed(await run("check_media_queries", in_a_comment, match="syntax"))


async def test_media_queries_are_counted_with_partial_credit() -> None:
    assert_passed(await run("check_media_queries", {"style.css": STYLE}, match="syntax"))
    outcome = await run("check_media_queries", {"style.css": STYLE}, required_count=2)
    # Text mode: the comment's "@media (x) {" and the rule = 2 of 2; syntax: 1 of 2 -> 50.
    assert_passed(outcome)
    outcome = await run(
        "check_media_queries", {"style.css": STYLE}, required_count=2, match="syntax"
    )
    assert_failed(outcome, score=50)
    assert "@media (max-width: 600px) (style.css line 5)" in outcome.message


async def test_a_media_query_in_a_style_element_counts() -> None:
    html = page("", head="<style>@media print { p { color: black } }</style>")
    assert_passed(await run("check_media_queries", {"index.html": html}))


async def test_check_flexbox_usage_matches_flex_text_as_the_reference_does() -> None:
    # The reference: re.search(r"\b(display\s*:\s*flex|flex-)", css). "inline-flex" is
    # neither (the colon is followed by "inline") -> 0; a flex-* property is enough -> 100.
    test = {"name": "check_flexbox_usage", "file": "style.css"}
    assert await graded(test, {"style.css": ".a { display: inline-flex }"}) == 0
    flex_property = {"style.css": ".a { display: block; flex-direction: column; }"}
    assert await graded(test, flex_property) == 100
    outcome = await run("check_flexbox_usage", flex_property)
    assert "flex-direction (style.css line 1)" in outcome.message


async def test_flexbox_syntax_mode_passes_with_a_flex_container() -> None:
    outcome = await run("check_flexbox_usage", {"style.css": STYLE}, match="syntax")
    assert_passed(outcome)
    assert "display: inline-flex in .nav (style.css, line 3)" in outcome.message


async def test_flex_properties_without_a_flex_container_fail_in_syntax_mode() -> None:
    css = "/* display: flex */ .a { flex-direction: column; display: block }"
    outcome = await run("check_flexbox_usage", {"style.css": css}, match="syntax")
    assert_failed(outcome)
    assert "No flex container" in outcome.message


async def test_count_over_usage_counts_text_as_the_reference_does() -> None:
    css = "/* !important */\na { color: red !important; }\nb { color: blue !IMPORTANT; }"
    # The reference: css.count("!important") is case-sensitive and counts comments: the
    # comment and a's = 2 > max_allowed 1 -> 0; with max_allowed 2 -> 100.
    test = {"name": "count_over_usage", "file": "s.css", "text": "!important", "max_allowed": 1}
    assert await graded(test, {"s.css": css}) == 0
    assert await graded({**test, "max_allowed": 2}, {"s.css": css}) == 100
    outcome = await run("count_over_usage", {"s.css": css}, text="!important", max_allowed=1)
    assert "'!important' appears 2 times in your CSS (s.css)" in outcome.message


async def test_count_over_usage_syntax_mode_ignores_comments_and_case() -> None:
    params = {"text": "!important", "match": "syntax", "max_allowed": 1}
    # The comment does not count (text mode counts it: 2 > 1 fails there) -> 1 of 1 allowed.
    commented = {"s.css": "/* !important */\na { color: red !important; }"}
    assert_passed(await run("count_over_usage", commented, **params))
    # STYLE: 2 uses in rules, 1 in the comment.
    outcome = await run("count_over_usage", {"s.css": STYLE}, **params)
    assert_failed(outcome)
    assert (
        "'!important' appears 2 times in your CSS (s.css), but at most 1 are allowed"
        in outcome.message
    )
    upper = {"s.css": "a { color: red !IMPORTANT; }"}
    assert_failed(await run("count_over_usage", upper, **{**params, "max_allowed": 0}))


async def test_count_over_usage_without_any_css_passes() -> None:
    outcome = await run(
        "count_over_usage", {"index.html": page("")}, text="!important", max_allowed=0
    )
    assert_passed(outcome)


# --- JavaScript ---------------------------------------------------------------------


async def test_js_uses_feature_finds_the_text_as_the_reference_does() -> None:
    # The reference: 100 if feature in js else 0, so a comment or a longer name counts.
    test = {"name": "js_uses_feature", "file": "app.js", "feature": "fetch"}
    assert await graded(test, {"app.js": "// fetch later\nconst x = 1;"}) == 100
    assert await graded(test, {"app.js": "prefetchAll();"}) == 100
    assert await graded(test, {"app.js": "const x = 1;"}) == 0
    outcome = await run("js_uses_feature", {"app.js": "\n// fetch later"}, feature="fetch")
    assert outcome.message == "Found 'fetch' in your JavaScript (app.js): app.js line 2."
    # Syntax mode wants a real call -> 0 for the comment.
    syntax = await run("js_uses_feature", {"app.js": "// fetch()"}, feature="fetch", match="syntax")
    assert_failed(syntax)


FEATURE_EXAMPLES = {
    "arrow_functions": "const double = (x) => x * 2;",
    "let_const": "let count = 0;",
    "template_literals": "console.log(`count: ${count}`);",
    "async_await": "async function load() { return 1; }",
    "fetch": "window.fetch('/api/items');",
    "addEventListener": "button.addEventListener('click', onClick);",
    "classes": "class Cart { add(item) {} }",
    "modules": "export function total() {}",
    "destructuring": "const { name, price } = item;",
    "spread": "const all = [...first, ...second];",
    "for_of": "for (const item of items) { show(item); }",
    "promises": "load().then(show);",
    "query_selector": "document.querySelectorAll('.card');",
}


@pytest.mark.parametrize(("feature", "code"), FEATURE_EXAMPLES.items())
async def test_each_feature_is_recognised(feature: str, code: str) -> None:
    files = {"app.js": f"\n{code}\n"}
    outcome = await run("js_uses_feature", files, feature=feature, match="syntax")
    assert_passed(outcome)
    assert "app.js line 2" in outcome.message


@pytest.mark.parametrize(("feature", "code"), FEATURE_EXAMPLES.items())
async def test_a_feature_in_a_comment_or_a_string_does_not_count(feature: str, code: str) -> None:
    js = f"// {code}\n/* {code} */\nvar text = {code!r};\nfunction plain() {{ return text; }}\n"
    outcome = await run("js_uses_feature", {"app.js": js}, feature=feature, match="syntax")
    assert_failed(outcome)
    assert "was found in your JavaScript (app.js)" in outcome.message


def test_every_feature_name_has_a_rule() -> None:
    assert set(get_args(JsFeature)) == set(FEATURES) == set(FEATURE_EXAMPLES)


async def test_var_and_a_for_in_loop_are_not_the_modern_features() -> None:
    files = {"app.js": "var a = 1;\nfor (var key in obj) {}\nfunction f() {}\n"}
    for feature in ("let_const", "for_of", "async_await"):
        assert_failed(await run("js_uses_feature", files, feature=feature, match="syntax"))


async def test_inline_scripts_count_but_data_and_external_scripts_do_not() -> None:
    html = page(
        '<script src="app.js"></script>\n'
        '<script type="application/json">{"a": `x`}</script>\n'
        "<script>\nconst msg = `hi`;\n</script>"
    )
    params = {"feature": "template_literals", "match": "syntax"}
    outcome = await run("js_uses_feature", {"index.html": html}, **params)
    assert_passed(outcome)
    assert "index.html line 8" in outcome.message


async def test_no_javascript_or_a_missing_script_fails() -> None:
    outcome = await run("js_uses_feature", {"index.html": page("")}, feature="fetch")
    assert_failed(outcome)
    assert "No JavaScript was found in your submission" in outcome.message
    outcome = await run("js_uses_feature", {"a.js": "fetch(1)"}, feature="fetch", js_file="main.js")
    assert outcome.message == "main.js was not found in your submission."


async def test_uses_forbidden_method_finds_the_text_as_the_reference_does() -> None:
    # The reference: 0 if method in js else 100. "evaluate" and a comment contain "eval";
    # "eval()" is searched as written, so "eval(x)" does not contain it.
    test = {"name": "uses_forbidden_method", "file": "app.js", "method": "eval"}
    assert await graded(test, {"app.js": "const evaluate = 1;"}) == 0
    assert await graded(test, {"app.js": "// no eval here"}) == 0
    assert await graded({**test, "method": "eval()"}, {"app.js": "eval(x);"}) == 100
    outcome = await run("uses_forbidden_method", {"app.js": "x = 1;\neval(y);"}, method="eval")
    assert outcome.message == (
        "eval is not allowed, but your JavaScript (app.js) uses it 1 time: app.js line 2."
    )
    # Syntax mode looks for the name used as code: evaluate is another name -> 100.
    syntax = {"method": "eval", "match": "syntax"}
    assert_passed(await run("uses_forbidden_method", {"app.js": "const evaluate = 1;"}, **syntax))


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("eval", "const x = eval('1 + 1');"),
        ("eval()", "window.eval(code);"),
        ("document.write", "window.document.write('<p>hi</p>');"),
        ("document.write", "document . write('<p>hi</p>');"),
        ("innerHTML", "list.innerHTML = '<li>new</li>';"),
        ("innerHTML", "const html = card?.innerHTML;"),
    ],
)
async def test_a_forbidden_method_used_as_code_fails(method: str, code: str) -> None:
    files = {"app.js": f"// ok\n{code}\n"}
    outcome = await run("uses_forbidden_method", files, method=method, match="syntax")
    assert_failed(outcome)
    assert f"{method.removesuffix('()')} is not allowed" in outcome.message
    assert "uses it 1 time: app.js line 2" in outcome.message


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("eval", "// eval(x)\nconst s = 'eval(x)';\nconst evaluate = 1;"),
        ("document.write", "/* document.write() */\nconsole.write('x');\nwrite('x');"),
        ("innerHTML", "el.textContent = 'innerHTML';\nconst t = `innerHTML`;"),
    ],
)
async def test_a_forbidden_name_in_comments_strings_or_other_names_passes(
    method: str, code: str
) -> None:
    outcome = await run("uses_forbidden_method", {"app.js": code}, method=method, match="syntax")
    assert_passed(outcome)


async def test_a_forbidden_method_in_an_inline_script_is_found_at_its_page_line() -> None:
    html = page("<p>x</p>\n<script>\n  document.write('x');\n</script>")
    files = {"index.html": html, "app.js": "let ok = 1;"}
    for match in ("text", "syntax"):
        outcome = await run("uses_forbidden_method", files, method="document.write", match=match)
        assert_failed(outcome)
        assert "index.html line 7" in outcome.message


async def test_without_any_javascript_nothing_forbidden_is_used() -> None:
    outcome = await run("uses_forbidden_method", {"index.html": page("")}, method="eval")
    assert_passed(outcome)


# --- project structure --------------------------------------------------------------

PROJECT = {
    "index.html": "",
    "css/style.css": "",
    "images/logo.png": "",
    "images/icons/cart.svg": "",
}


async def test_check_project_structure_looks_for_one_file_as_the_reference_does() -> None:
    # The reference: 100 if expected_structure is a file name of the files the test gets
    # (all of them for "file": "all"), else 0; "css" names no file, so it is not there.
    test = {"name": "check_project_structure", "file": "all", "expected_structure": "css/style.css"}
    assert await graded(test, PROJECT) == 100
    assert await graded({**test, "expected_structure": "css"}, PROJECT) == 0
    # A test's file other than "all" is the only file the reference gives it -> 0.
    assert await graded({**test, "file": "index.html"}, PROJECT) == 0


async def test_check_dir_exists_looks_for_a_file_in_the_folder_as_the_reference_does() -> None:
    # The reference: 100 if a file's name starts with "css/", else 0; with "file" naming
    # index.html only that file is seen -> 0.
    test = {"name": "check_dir_exists", "file": "all", "dir_path": "css"}
    assert await graded(test, PROJECT) == 100
    assert await graded({**test, "dir_path": "js"}, PROJECT) == 0
    assert await graded({**test, "file": "index.html"}, PROJECT) == 0


async def test_project_structure_scores_the_share_of_expected_paths() -> None:
    expected = ["index.html", "css/", "js/app.js", "images/*.png", "fonts/"]
    outcome = await run("check_project_structure", PROJECT, structure=expected)
    assert_failed(outcome, score=100 * 3 / 5)
    assert "Missing: js/app.js, fonts/." in outcome.message
    assert "A folder counts only when it holds at least one file" in outcome.message


async def test_project_structure_accepts_the_reference_name_and_a_single_path() -> None:
    outcome = await run("check_project_structure", PROJECT, expected_structure="images/icons/")
    assert_passed(outcome)


async def test_a_star_stays_within_one_folder() -> None:
    outcome = await run("check_project_structure", PROJECT, structure=["*.svg"])
    assert_failed(outcome)


async def test_a_folder_exists_when_it_holds_a_file() -> None:
    assert_passed(await run("check_dir_exists", PROJECT, dir_path="images/icons"))
    outcome = await run("check_dir_exists", PROJECT, dir_path="js/")
    assert_failed(outcome)
    assert "The folder js/ was not found in your submission." in outcome.message


# --- the test's file ---------------------------------------------------------------

ABOUT = page(
    '<nav>a</nav><a class="btn">x</a><button class="btn big">y</button>\n'
    '<marquee>m</marquee><h1>T</h1><h3>S</h3><img src="a.png" alt="A"><img src="b.png">',
    head='<link rel="stylesheet" href="s.css">',
)


@pytest.mark.parametrize(
    ("test", "score"),
    [
        # Each is the reference's score on about.html (index.html would score otherwise).
        ({"name": "has_tag", "tag": "nav", "required_count": 2}, 50),  # int(1 / 2 * 100)
        ({"name": "has_class", "class_names": ["btn"], "required_count": 3}, 66),  # 2 of 3
        ({"name": "has_attribute", "attribute": "alt", "required_count": 4}, 25),  # 1 of 4
        ({"name": "has_forbidden_tag", "tag": "marquee"}, 0),  # found -> 0
        ({"name": "check_headings_sequential"}, 0),  # h1 then h3 skips h2 -> 0
        ({"name": "check_all_images_have_alt"}, 50),  # int(1 / 2 * 100)
        ({"name": "check_css_linked"}, 100),  # a <link rel="stylesheet"> -> 100
    ],
)
async def test_html_checks_look_at_the_page_the_tests_file_names(
    test: dict[str, Any], score: float
) -> None:
    files = {"index.html": page("<p>x</p>"), "about.html": ABOUT}
    assert await graded({**test, "file": "about.html"}, files) == score


async def test_an_explicit_html_file_wins_over_the_tests_file() -> None:
    files = {"index.html": page("<p>x</p>"), "about.html": ABOUT}
    test = {"name": "has_forbidden_tag", "tag": "marquee", "file": "about.html"}
    assert await graded({**test, "html_file": "index.html"}, files) == 100


# --- configuration ------------------------------------------------------------------


def test_the_template_needs_no_sandbox_and_builds_from_a_criteria_config() -> None:
    test = {"name": "has_tag", "parameters": [{"name": "tag", "value": "nav"}]}
    tree = build_tree({"base": {"tests": [test]}}, ["webdev"])
    assert not tree.requires_sandbox
    assert tree.tests()[0].params.model_dump()["html_file"] == "index.html"


async def test_a_whole_config_grades_a_submission_without_a_sandbox() -> None:
    config = {
        "base": {
            "tests": [
                {"name": "has_tag", "tag": "section", "required_count": 4},
                {"name": "check_css_linked"},
            ]
        }
    }
    files = {"index.html": SECTIONS}
    result = await grade(build_tree(config, ["webdev"]), GradeContext("web", files, None))
    # has_tag: 2 of 4 -> 50; no stylesheet link -> 0; equal weights.
    assert result.final_score == 25


def test_an_unknown_parameter_is_a_config_error() -> None:
    (problem,) = problems({"name": "has_tag", "tag": "div", "colour": "red"})
    assert problem["loc"] == ["criteria_config", "base", "tests", 0, "parameters", "colour"]
    assert "unknown parameter 'colour' of has_tag" in problem["msg"]
    assert "required_count" in problem["msg"]


def test_a_missing_parameter_is_a_config_error() -> None:
    (problem,) = problems({"name": "css_uses_property", "value": "flex"})
    assert problem["msg"] == "missing required parameter 'prop' of css_uses_property"


@pytest.mark.parametrize(
    ("test", "parameter", "words"),
    [
        (
            {"name": "js_uses_feature", "feature": "jquery", "match": "syntax"},
            "feature",
            "arrow_functions",
        ),
        ({"name": "has_tag", "tag": "<>"}, "tag", "tag name"),
        ({"name": "has_tag", "tag": "p", "required_count": -1}, "required_count", "0"),
        ({"name": "has_class", "class_names": []}, "class_names", "at least 1"),
        ({"name": "check_dir_exists", "dir_path": "../secrets"}, "dir_path", "inside"),
        (
            {"name": "uses_forbidden_method", "method": "eval(", "match": "syntax"},
            "method",
            "like 'eval'",
        ),
        ({"name": "has_style", "style": "font size", "match": "syntax"}, "style", "property"),
        ({"name": "js_uses_feature", "feature": ""}, "feature", "at least 1"),
        ({"name": "count_over_usage", "text": "!important", "max_allowed": -1}, "max_allowed", "0"),
    ],
)
def test_bad_parameter_values_are_config_errors(
    test: dict[str, Any], parameter: str, words: str
) -> None:
    (problem,) = problems(test)
    assert problem["loc"][:6] == ["criteria_config", "base", "tests", 0, "parameters", parameter]
    assert words in problem["msg"]


@pytest.mark.parametrize(
    ("name", "params", "files", "score"),
    [
        # Nothing required (the reference's default count of 0) is full marks.
        ("has_tag", {"tag": "p"}, {"index.html": page("<div>x</div>")}, 100),
        ("has_attribute", {"attribute": "title"}, {"index.html": page("<p>x</p>")}, 100),
        ("has_style", {"property": "color"}, {"style.css": "p { margin: 0; }"}, 100),
        ("count_over_usage", {"text": "!important"}, {"style.css": "p { margin: 0; }"}, 100),
        # Whole percent, truncated: 1 of 3 -> 33, 2 of 3 -> 66 (never 33.33 or 66.67).
        ("has_tag", {"tag": "p", "required_count": 3}, {"index.html": page("<p>a</p>")}, 33),
        (
            "has_attribute",
            {"attribute": "title", "required_count": 3},
            {"index.html": page('<p title="a">a</p><p title="b">b</p>')},
            66,
        ),
        # Capped at 100.
        (
            "has_tag",
            {"tag": "p", "required_count": 1},
            {"index.html": page("<p>a</p><p>b</p>")},
            100,
        ),
    ],
)
async def test_ratio_functions_score_as_the_reference_does(
    name: str, params: dict[str, Any], files: dict[str, str], score: float
) -> None:
    outcome = await run(name, files, **params)
    assert outcome.score == score
