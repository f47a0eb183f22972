"""The `webdev` template: static checks of a web page project's HTML, CSS and JavaScript.

Nothing runs: the checks read the submitted files (`GradeContext.files`). HTML is parsed
with BeautifulSoup (html.parser), CSS with tinycss2 and JavaScript with ast-grep, so
comments and strings never count as code. HTML checks look at one page, `html_file`
(index.html by default); CSS and JavaScript checks look at `css_file`/`js_file` when
named, otherwise at all the CSS/JavaScript of the submission, inline in pages too.
A file the test names that is missing fails the test with a message saying so.
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
