"""The `webdev` template: static checks of a web page project's HTML, CSS and JavaScript.

Nothing runs: the checks read the submitted files (`GradeContext.files`). Every function
named like one of the reference autograder's web_dev functions scores as it does by
default, with its parameter names, so an instructor's existing criteria grade alike.

Which file: a test's `file` (as in the reference) names the file to check; "all" names
none. HTML checks look at one page, `html_file`, else `file`, else index.html; CSS and
JavaScript checks at `css_file`/`js_file`, else `file`, else all the CSS/JavaScript of
the submission, inline in pages too. A named file that is missing fails the test.

How: HTML is parsed with BeautifulSoup (html.parser). CSS and JavaScript checks search
the raw text as the reference does (`match: "text"`, comments included); with
`match: "syntax"` they read CSS parsed by tinycss2 and JavaScript by ast-grep, where
comments and strings never count as code.
"""

from shared.grading.templates.base import Template
from shared.grading.templates.webdev.css_checks import CSS_FUNCTIONS
from shared.grading.templates.webdev.html_checks import HTML_FUNCTIONS
from shared.grading.templates.webdev.js_checks import JS_FUNCTIONS
from shared.grading.templates.webdev.structure_checks import STRUCTURE_FUNCTIONS

_FUNCTIONS = (*HTML_FUNCTIONS, *CSS_FUNCTIONS, *JS_FUNCTIONS, *STRUCTURE_FUNCTIONS)
WEBDEV = Template(
    name="webdev",
    requires_sandbox=False,
    functions={function.name: function for function in _FUNCTIONS},
    description="Checks the HTML, CSS and JavaScript of a web page project without running it.",
)

__all__ = ["WEBDEV"]
