"""The static_analysis template: imports and constructs read from real syntax trees."""

from collections.abc import Callable
from typing import Any

import pytest
from ast_grep_py import SgRoot

from shared.grading import structural
from shared.grading.criteria import build_tree
from shared.grading.errors import InvalidCriteria
from shared.grading.ports import GradeContext
from shared.grading.scoring import grade
from shared.grading.structural import parse_submission
from shared.grading.templates import Template, TestFunction, TestOutcome, get_template
from tests.unit.grading.fakes import FakeRunner, ran

MAIN_FILES = {"python": "main.py", "java": "Main.java", "node": "index.js", "c": "main.c"}
MAIN_FILES["cpp"] = "main.cpp"


async def check(
    function: str, params: dict[str, Any], files: dict[str, str], language: str = "python"
) -> TestOutcome:
    test_function = get_template("static_analysis").functions[function]
    validated = test_function.params_model.model_validate(params)
    return await test_function.run(GradeContext(language, files, runner=None), validated)


async def forbid_imports(language: str, source: str, *imports: str) -> TestOutcome:
    files = {MAIN_FILES[language]: source}
    return await check("forbidden_import", {"imports": list(imports)}, files, language)


async def forbid(language: str, source: str, *keywords: str, **params: Any) -> TestOutcome:
    files = {MAIN_FILES[language]: source}
    return await check("forbidden_keyword", {"keywords": list(keywords), **params}, files, language)


def counting_parser() -> tuple[Callable[[str, str], SgRoot], list[str]]:
    sources: list[str] = []

    def parse(source: str, language: str) -> SgRoot:
        sources.append(source)
        return SgRoot(source, language)

    return parse, sources


def config_problems(test: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidCriteria) as raised:
        build_tree({"base": {"tests": [test]}}, ["static_analysis"])
    return [problem["msg"] for problem in raised.value.errors]


# --- forbidden_import ---------------------------------------------------------------

IMPORT_CASES = [
    ("python", "x = 1\nimport json, os\n", "os", 2),
    ("python", "import os.path\n", "os", 1),
    ("python", "import numpy as np\n", "numpy", 1),
    ("python", "from os import path\n", "os", 1),
    ("python", "from os import path\n", "os.path", 1),
    ("python", "from os.path import join\n", "os", 1),
    ("python", "from os import *\n", "os.path", 1),
    ("python", "if True:\n    mod = __import__('os')\n", "os", 2),
    ("python", "import importlib\nm = importlib.import_module('subprocess')\n", "subprocess", 2),
    ("java", "import java.util.*;\nclass Main {}\n", "java.util", 1),
    ("java", "import java.util.*;\nclass Main {}\n", "java.util.Scanner", 1),
    ("java", "import java.util.Scanner;\nclass Main {}\n", "java.util", 1),
    ("java", "import static java.lang.Math.max;\nclass Main {}\n", "java.lang.Math", 1),
    ("node", 'const fs = require("fs");\n', "fs", 1),
    ("node", 'import fs from "fs";\n', "fs", 1),
    ("node", 'import { readFile } from "fs";\n', "fs", 1),
    ("node", 'import * as fs from "fs";\n', "fs", 1),
    ("node", 'import "fs";\n', "fs", 1),
    ("node", 'async function f() {\n  return await import("fs");\n}\n', "fs", 2),
    ("node", 'import { readFile } from "node:fs";\n', "fs", 1),
    ("node", "const fs = require(`fs/promises`);\n", "fs", 1),
    ("node", 'export { readFile } from "fs";\n', "fs", 1),
    ("c", "#include <stdio.h>\nint main(void) { return 0; }\n", "stdio.h", 1),
    ("c", '#include "helpers.h"\nint main(void) { return 0; }\n', "helpers.h", 1),
    ("c", "#include <stdio.h>\n", "stdio", 1),
    ("cpp", "#include <vector>\nint main() { return 0; }\n", "vector", 1),
    ("cpp", "#include <bits/stdc++.h>\n", "bits", 1),
]


@pytest.mark.parametrize(("language", "source", "forbidden", "line"), IMPORT_CASES)
async def test_every_import_form_is_caught_with_file_and_line(
    language: str, source: str, forbidden: str, line: int
) -> None:
    outcome = await forbid_imports(language, source, forbidden)
    assert (outcome.score, outcome.verdict) == (0, "failed")
    assert f"{MAIN_FILES[language]} line {line}: imports '{forbidden}'" in outcome.message


@pytest.mark.parametrize(
    ("language", "source", "forbidden"),
    [
        ("python", "import osmium\n", "os"),
        ("python", "# import os\ntext = 'import os'\n", "os"),
        ("python", "name = 'os'\nmodule = __import__(name)\n", "os"),
        ("java", "import java.util.*;\nclass Main {}\n", "java.util.concurrent.locks"),
        ("java", "// import java.io.File;\nclass Main {}\n", "java.io"),
        ("node", "const text = \"require('fs')\";\n", "fs"),
        ("node", 'const fsx = require("fs-extra");\n', "fs"),
        ("c", "// #include <stdio.h>\nint main(void) { return 0; }\n", "stdio.h"),
    ],
)
async def test_comments_strings_and_look_alike_names_are_not_imports(
    language: str, source: str, forbidden: str
) -> None:
    outcome = await forbid_imports(language, source, forbidden)
    assert (outcome.score, outcome.verdict) == (100, "passed"), outcome.message


async def test_every_violation_in_every_file_is_listed() -> None:
    files = {"a.py": "import os\n", "pkg/b.py": "x = 1\nfrom sys import argv\nimport os.path\n"}
    outcome = await check("forbidden_import", {"imports": ["os", "sys"]}, files)
    assert outcome.message.splitlines() == [
        "Your code has 3 forbidden import(s):",
        "- a.py line 1: imports 'os': `import os`",
        "- pkg/b.py line 2: imports 'sys': `from sys import argv`",
        "- pkg/b.py line 3: imports 'os': `import os.path`",
    ]


async def test_a_clean_submission_passes_naming_the_files_checked() -> None:
    files = {"main.py": "import math\n", "notes.txt": "import os"}
    outcome = await check("forbidden_import", {"imports": ["os"]}, files)
    assert outcome == TestOutcome(
        score=100, verdict="passed", message="No forbidden import was found in main.py."
    )


# --- which files are checked --------------------------------------------------------


async def test_the_tests_file_key_limits_the_check_to_that_file() -> None:
    config = {
        "base": {"tests": [{"name": "forbidden_import", "file": "main.py", "imports": ["os"]}]}
    }
    tree = build_tree(config, ["static_analysis"])
    files = {"main.py": "import math\n", "helper.py": "import os\n"}
    result = await grade(tree, GradeContext("python", files, runner=None))
    assert result.final_score == 100
    assert result.children["base"].tests[0].parameters == {"imports": ["os"]}


async def test_a_file_that_is_not_source_code_cannot_be_checked() -> None:
    files = {"main.py": "x = 1\n", "notes.txt": "hello"}
    outcome = await check("forbidden_import", {"imports": ["os"], "file": "notes.txt"}, files)
    assert (outcome.score, outcome.verdict) == (0, "error")
    assert "notes.txt is not a Python source file" in outcome.message


@pytest.mark.parametrize(
    ("function", "params", "score", "verdict"),
    [
        # Reference: files None or [] -> 100 before any rule is tried.
        ("forbidden_import", {"forbidden_imports": ["os"]}, 100, "passed"),
        ("forbidden_keyword", {"forbidden_keywords": ["for_loop"]}, 100, "passed"),
        ("required_keyword", {"keywords": ["loops"]}, 0, "failed"),
    ],
)
async def test_a_missing_file_passes_a_forbidden_check_and_fails_a_required_one(
    function: str, params: dict[str, Any], score: int, verdict: str
) -> None:
    files = {"main.py": "for x in []:\n    import os\n"}
    outcome = await check(function, {**params, "file": "missing.py"}, files)
    assert (outcome.score, outcome.verdict) == (score, verdict)
    assert "missing.py was not found in your submission" in outcome.message


async def test_no_source_file_of_the_language_passes_forbidden_and_fails_required() -> None:
    files = {"Main.java": "class Main { void f() { for (;;) {} } }"}
    forbidden = await check("forbidden_keyword", {"keywords": ["loops"]}, files)
    required = await check("required_keyword", {"keywords": ["loops"]}, files)
    assert (forbidden.score, forbidden.verdict) == (100, "passed")
    assert (required.score, required.verdict) == (0, "failed")
    assert "No Python source file" in required.message


async def test_a_language_ast_grep_does_not_know_is_a_grader_error() -> None:
    outcome = await check("forbidden_keyword", {"keywords": ["loops"]}, {"a.rs": ""}, "rust")
    assert (outcome.score, outcome.verdict) == (0, "error")


# --- forbidden_keyword: the predefined vocabulary -----------------------------------

JAVA_MAIN = "class Main {{\n  void run(int[] xs) {{\n    {}\n  }}\n}}\n"
C_MAIN = "int main(void) {{\n  int i = 0;\n  {}\n  return 0;\n}}\n"
CPP_MAIN = "#include <vector>\nint main() {{\n  std::vector<int> v;\n  {}\n  return 0;\n}}\n"
# (language, program, line of the construct, keywords that catch it, keywords that do not)
CONSTRUCT_CASES = [
    ("python", "for i in range(3):\n    print(i)\n", 1, "for for_each loops", "while"),
    (
        "python",
        "async def f(xs):\n    async for x in xs:\n        print(x)\n",
        2,
        "for loops",
        "while comprehension",
    ),
    ("python", "while True:\n    break\n", 1, "while loops", "for comprehension"),
    (
        "python",
        "ys = [x for x in range(3)]\n",
        1,
        "list_comprehension comprehension loops",
        "for set_comprehension generator_expression",
    ),
    ("python", "ys = {x for x in 'ab'}\n", 1, "set_comprehension comprehension loops", "for"),
    ("python", "ys = {x: 1 for x in 'ab'}\n", 1, "dict_comprehension comprehension loops", "for"),
    (
        "python",
        "total = sum(x * x for x in range(3))\n",
        1,
        "generator_expression comprehension loops",
        "list_comprehension",
    ),
    ("python", "x = eval('1 + 1')\n", 1, "eval", "exec loops"),
    ("python", "exec('x = 1')\n", 1, "exec", "eval"),
    (
        "python",
        "def fact(n):\n    return 1 if n == 0 else n * fact(n - 1)\n",
        1,
        "recursion",
        "loops",
    ),
    (
        "python",
        "class Tree:\n    def size(self):\n        return 1 + self.size()\n",
        2,
        "recursion",
        "loops",
    ),
    ("java", JAVA_MAIN.format("for (int i = 0; i < 3; i++) {}"), 3, "for loops", "for_each while"),
    (
        "java",
        JAVA_MAIN.format("for (int x : xs) {}"),
        3,
        "for for_each loops",
        "while do_while",
    ),
    ("java", JAVA_MAIN.format("while (true) { break; }"), 3, "while loops", "for do_while"),
    ("java", JAVA_MAIN.format("do { } while (false);"), 3, "do_while loops", "for while"),
    (
        "java",
        "class Main {\n  int fact(int n) {\n    return n == 0 ? 1 : n * fact(n - 1);\n  }\n}\n",
        2,
        "recursion",
        "loops",
    ),
    ("node", "for (let i = 0; i < 3; i++) {}\n", 1, "for loops", "for_each for_in for_of while"),
    ("node", "for (const k in {a: 1}) {}\n", 1, "for for_each for_in loops", "for_of while"),
    ("node", "for (const v of [1, 2]) {}\n", 1, "for for_each for_of loops", "for_in while"),
    (
        "node",
        "async function f(xs) {\n  for await (const x of xs) {}\n}\n",
        2,
        "for_of loops",
        "for_in",
    ),
    ("node", "while (false) {}\n", 1, "while loops", "for do_while"),
    ("node", "do {} while (false);\n", 1, "do_while loops", "for while"),
    ("node", "const x = eval('1 + 1');\n", 1, "eval", "loops"),
    ("node", "function fib(n) {\n  return n < 2 ? n : fib(n - 1);\n}\n", 1, "recursion", "loops"),
    ("node", "const fib = (n) => (n < 2 ? n : fib(n - 1));\n", 1, "recursion", "loops"),
    ("node", "class T {\n  walk(n) {\n    return this.walk(n);\n  }\n}\n", 2, "recursion", ""),
    ("c", C_MAIN.format("for (i = 0; i < 3; i++) {}"), 3, "for loops", "while do_while"),
    ("c", C_MAIN.format("while (i < 3) { i++; }"), 3, "while loops", "for do_while"),
    ("c", C_MAIN.format("do { i++; } while (i < 3);"), 3, "do_while loops", "for while"),
    ("c", "int fact(int n) {\n  return n ? n * fact(n - 1) : 1;\n}\n", 1, "recursion", "loops"),
    ("cpp", CPP_MAIN.format("for (int i = 0; i < 3; i++) {}"), 4, "for loops", "for_each"),
    ("cpp", CPP_MAIN.format("for (int x : v) {}"), 4, "for for_each loops", "while"),
    ("cpp", CPP_MAIN.format("while (v.empty()) { break; }"), 4, "while loops", "for"),
    ("cpp", CPP_MAIN.format("do { } while (false);"), 4, "do_while loops", "for while"),
    (
        "cpp",
        "struct S {\n  int depth(int n) { return n ? depth(n - 1) : 0; }\n};\n",
        2,
        "recursion",
        "loops",
    ),
]
CAUGHT = [
    (language, source, line, keyword)
    for language, source, line, caught_by, _ in CONSTRUCT_CASES
    for keyword in caught_by.split()
]
NOT_CAUGHT = [
    (language, source, keyword)
    for language, source, _, _, missed_by in CONSTRUCT_CASES
    for keyword in missed_by.split()
]


@pytest.mark.parametrize(("language", "source", "line", "keyword"), CAUGHT)
async def test_each_keyword_catches_its_constructs(
    language: str, source: str, line: int, keyword: str
) -> None:
    outcome = await forbid(language, source, keyword)
    assert (outcome.score, outcome.verdict) == (0, "failed"), outcome.message
    assert f"{MAIN_FILES[language]} line {line}: " in outcome.message


@pytest.mark.parametrize(("language", "source", "keyword"), NOT_CAUGHT)
async def test_a_keyword_does_not_catch_other_constructs(
    language: str, source: str, keyword: str
) -> None:
    outcome = await forbid(language, source, keyword)
    assert outcome.score == 100, outcome.message


@pytest.mark.parametrize(("language", "source"), [(case[0], case[1]) for case in CONSTRUCT_CASES])
def test_valid_programs_parse_without_syntax_errors(language: str, source: str) -> None:
    parsed = parse_submission({MAIN_FILES[language]: source}, language)
    assert list(parsed.files) == [MAIN_FILES[language]]
    assert parsed.with_syntax_errors() == {}


@pytest.mark.parametrize(
    ("language", "source", "keyword"),
    [
        ("python", "x = obj.eval('1')\ntext = 'eval(1)'\n", "eval"),
        ("python", "def total(xs):\n    return sum(xs)\n", "recursion"),
        ("java", "class Box {\n  void add(int x) { items.add(x); }\n}\n", "recursion"),
        ("node", "class Q {\n  push(x) { this.items.push(x); }\n}\n", "recursion"),
        ("python", "# for i in range(3):\ntext = 'while True'\n", "loops"),
    ],
)
async def test_look_alikes_are_not_flagged(language: str, source: str, keyword: str) -> None:
    outcome = await forbid(language, source, keyword)
    assert outcome.score == 100, outcome.message


async def test_loops_and_for_together_report_each_loop_once() -> None:
    outcome = await forbid("python", "for i in range(3):\n    pass\n", "loops", "for", "for_each")
    assert outcome.message.startswith("Your code has 1 forbidden construct(s):")


async def test_a_keyword_meaningless_in_the_language_is_skipped_with_a_note() -> None:
    outcome = await forbid("java", JAVA_MAIN.format("int y = 1;"), "comprehension", "exec")
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert "Not checked: 'comprehension' (there is no such thing in Java)" in outcome.message


async def test_the_violation_list_is_cut_after_twenty() -> None:
    source = "".join(f"while x{n}:\n    pass\n" for n in range(25))
    outcome = await forbid("python", source, "while")
    assert outcome.message.startswith("Your code has 25 forbidden construct(s):")
    assert outcome.message.splitlines()[-1] == "... and 5 more"


# --- custom rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("$A.sort()", "line 2: code matching `$A.sort()`: `xs.sort()`"),
        ({"kind": "lambda", "message": "a lambda"}, "line 3: a lambda: `lambda x: -x`"),
        (
            {
                "rule": {"pattern": "$F($$$ARGS)"},
                "constraints": {"F": {"regex": "^sorted$"}},
                "message": "a call to sorted()",
            },
            "line 4: a call to sorted(): `sorted(xs)`",
        ),
    ],
)
async def test_custom_rules_are_patterns_rule_objects_or_configs(
    rule: str | dict[str, Any], words: str
) -> None:
    source = "xs = [3, 1]\nxs.sort()\nkey = lambda x: -x\nys = sorted(xs)\n"
    outcome = await check("forbidden_keyword", {"rules": [rule]}, {"main.py": source})
    assert (outcome.score, outcome.verdict) == (0, "failed")
    assert f"main.py {words}" in outcome.message
    assert outcome.message.startswith("Your code has 1 forbidden construct(s):")


async def test_a_rule_for_another_language_is_skipped_with_a_note() -> None:
    rule = {"kind": "enhanced_for_statement", "language": "java", "message": "a for-each"}
    source = "for x in xs:\n    pass\n"
    outcome = await check("forbidden_keyword", {"rules": [rule]}, {"main.py": source})
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert "Not checked: a for-each (written for another language)" in outcome.message
    java = await forbid("java", JAVA_MAIN.format("for (int x : xs) {}"), rules=[rule])
    assert "Main.java line 3: a for-each" in java.message


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({"keywords": ["forr"]}, "unknown keyword 'forr'; known: comprehension"),
        ({"rules": [{"kind": "no_such_kind"}]}, "Kind `no_such_kind` is invalid"),
        ({"rules": [{"kinds": "for_statement"}]}, "unknown field `kinds`"),
        ({"rules": [{"kind": "lambda", "language": "java"}]}, "not a valid ast-grep rule in Java"),
        ({"rules": [{"kind": "lambda", "language": "cobol"}]}, "unknown language 'cobol'"),
        ({"rules": [{"rule": {"kind": "lambda"}, "fix": "x"}]}, "unknown key(s) ['fix']"),
        ({"rules": [{"regex": "("}]}, "regex parse error"),
    ],
)
def test_bad_keywords_and_rules_are_config_errors(parameters: dict[str, Any], words: str) -> None:
    (message,) = config_problems({"name": "forbidden_keyword", **parameters})
    assert words in message


def test_required_keyword_needs_something_to_look_for() -> None:
    (message,) = config_problems({"name": "required_keyword", "keywords": []})
    assert "give at least one keyword or rule" in message


@pytest.mark.parametrize(
    ("function", "params"),
    [
        ("forbidden_import", {"forbidden_imports": []}),
        ("forbidden_keyword", {"forbidden_keywords": [], "custom_ast_grep_rules": []}),
        ("forbidden_keyword", {}),
    ],
)
async def test_forbidding_nothing_passes(function: str, params: dict[str, Any]) -> None:
    # Reference: `if not forbidden_imports` / `if not forbidden_keywords and not
    # custom_ast_grep_rules` -> score 100, before the files are looked at.
    outcome = await check(function, params, {"main.py": "import os\nwhile True: pass\n"})
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert outcome.message == "This test forbids nothing, so there is nothing to find."


# --- the reference autograder's names and scores -------------------------------------


@pytest.mark.parametrize(
    ("source", "score"),
    [
        # Reference: a library found in any file -> 0; none found -> 100.
        ("import math\nfrom os import path\n", 0),
        ("import math\n", 100),
    ],
)
async def test_forbidden_import_scores_as_the_reference(source: str, score: int) -> None:
    params = {"forbidden_imports": ["os", "sys"], "submission_language": "python"}
    outcome = await check("forbidden_import", params, {"main.py": source})
    assert outcome.score == score


@pytest.mark.parametrize(
    ("language", "source", "keyword", "score"),
    [
        # Reference rules: for_loop is {"kind": "for_statement"} and nothing else, so a
        # Java enhanced for, a JavaScript for-of and a C++ range-for pass (100).
        ("java", JAVA_MAIN.format("for (int i = 0; i < 3; i++) {}"), "for_loop", 0),
        ("java", JAVA_MAIN.format("for (int x : xs) {}"), "for_loop", 100),
        ("node", "for (const x of xs) {}\n", "for_loop", 100),
        ("node", "for (let i = 0; i < 3; i++) {}\n", "for_loop", 0),
        ("cpp", "int main() { int xs[] = {1}; for (int x : xs) {} }\n", "for_loop", 100),
        ("c", "int main(void) { do {} while (0); }\n", "do_while_loop", 0),
        ("python", "while True:\n    break\n", "while_loop", 0),
        ("python", "x = eval('1')\n", "eval_call", 0),
        ("python", "exec('x = 1')\n", "exec_call", 0),
        ("node", "eval('1');\n", "eval_call", 0),
        # The reference has no do_while_loop rule for Java: the name is skipped (100).
        ("java", JAVA_MAIN.format("do {} while (false);"), "do_while_loop", 100),
    ],
)
async def test_reference_keyword_names_score_as_the_reference(
    language: str, source: str, keyword: str, score: int
) -> None:
    outcome = await forbid(language, source, keyword)
    assert outcome.score == score, outcome.message


async def test_custom_ast_grep_rules_are_the_references_rule_objects() -> None:
    # Reference: root.find_all(kind="while_statement") matches -> violation -> 0.
    params = {"custom_ast_grep_rules": [{"kind": "while_statement"}]}
    outcome = await check("forbidden_keyword", params, {"main.py": "while x:\n    pass\n"})
    assert (outcome.score, outcome.verdict) == (0, "failed")


def test_one_parameter_under_both_names_is_a_config_error() -> None:
    test = {"name": "forbidden_import", "imports": ["os"], "forbidden_imports": ["os"]}
    (message,) = config_problems(test)
    assert message == (
        "parameter 'imports' is given twice: 'forbidden_imports' is the same parameter"
    )


# --- required_keyword ---------------------------------------------------------------


async def test_required_keyword_passes_when_each_one_is_found() -> None:
    source = "def fact(n):\n    while n > 1:\n        return n * fact(n - 1)\n    return 1\n"
    params = {"keywords": ["recursion", "loops"], "rules": ["$A * $B"]}
    outcome = await check("required_keyword", params, {"main.py": source})
    assert (outcome.score, outcome.verdict) == (100, "passed")


async def test_required_keyword_names_what_is_missing() -> None:
    outcome = await check("required_keyword", {"keywords": ["for", "while"]}, {"m.py": "x = 1\n"})
    assert (outcome.score, outcome.verdict) == (0, "failed")
    assert outcome.message.splitlines()[1:] == ["- for (for loop)", "- while (while loop)"]


# --- files that do not parse --------------------------------------------------------


async def test_a_file_with_a_syntax_error_is_still_checked_and_the_message_says_so() -> None:
    files = {"main.py": "import os\ndef broken(:\n    pass\n", "ok.py": "x = 1\n"}
    outcome = await check("forbidden_import", {"imports": ["os"]}, files)
    assert (outcome.score, outcome.verdict) == (0, "failed")
    assert "main.py line 1: imports 'os'" in outcome.message
    assert "main.py has a syntax error near line 2" in outcome.message


async def test_a_syntax_error_alone_does_not_fail_a_forbidden_check() -> None:
    outcome = await forbid("java", "class Main { void f() { int x = 1 } }\n", "loops")
    assert (outcome.score, outcome.verdict) == (100, "passed")
    assert "Main.java has a syntax error near line 1" in outcome.message


async def test_a_file_the_parser_cannot_read_is_recorded_and_the_others_are_checked() -> None:
    def parse(source: str, language: str) -> SgRoot:
        if "boom" in source:
            raise RuntimeError("parser exploded\ndetails")
        return SgRoot(source, language)

    files = {"a.py": "boom = 1\n", "b.py": "import os\n"}
    parsed = parse_submission(files, "python", parser=parse)
    assert list(parsed.files) == ["b.py"]
    assert parsed.unreadable == {"a.py": "RuntimeError: parser exploded"}
    context = GradeContext("python", files, runner=None, parsed=parsed)
    test_function = get_template("static_analysis").functions["forbidden_import"]
    outcome = await test_function.run(context, test_function.params_model(imports=["os"]))
    assert "b.py line 1: imports 'os'" in outcome.message
    assert "Note: a.py could not be read (RuntimeError: parser exploded)." in outcome.message


# --- parsing once -------------------------------------------------------------------


async def test_each_file_is_parsed_once_however_many_checks_read_it() -> None:
    parse, parsed_sources = counting_parser()
    files = {"a.py": "import os\n", "b.py": "for x in y:\n    pass\n", "README.md": "# hi"}
    context = GradeContext("python", files, None, parsed=parse_submission(files, "python", parse))
    functions = get_template("static_analysis").functions
    checks: list[tuple[TestFunction[Any], dict[str, Any]]] = [
        (functions["forbidden_import"], {"imports": ["os"]}),
        (functions["forbidden_keyword"], {"keywords": ["loops", "eval"], "rules": ["$A.sort()"]}),
        (functions["required_keyword"], {"keywords": ["recursion"]}),
    ]
    for function, params in checks:
        await function.run(context, function.params_model.model_validate(params))
    assert sorted(parsed_sources) == sorted([files["a.py"], files["b.py"]])


async def test_grading_without_a_structural_step_parses_lazily_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parse, parsed_sources = counting_parser()
    monkeypatch.setattr(structural, "parse_source", parse)
    tests = [
        {"name": "forbidden_import", "imports": ["os"]},
        {"name": "forbidden_keyword", "keywords": ["loops"]},
        {"name": "required_keyword", "keywords": ["for"]},
    ]
    tree = build_tree({"base": {"tests": tests}}, ["static_analysis"])
    files = {"a.py": "for x in y:\n    pass\n", "b.py": "import math\n"}
    result = await grade(tree, GradeContext("python", files, runner=None))
    assert [test.score for test in result.children["base"].tests] == [100, 0, 100]
    assert len(parsed_sources) == 2


# --- scoring: penalties and several templates ---------------------------------------


def penalty_config(base_test: dict[str, Any]) -> dict[str, Any]:
    return {
        "base": {"tests": [base_test]},
        "penalty": {
            "weight": 30,
            "tests": [
                {"name": "forbidden_import", "imports": ["os"]},
                {"name": "forbidden_keyword", "keywords": ["eval"]},
            ],
        },
    }


async def test_a_penalty_with_nothing_violated_takes_nothing_away() -> None:
    config = penalty_config({"name": "expect_output", "expected_output": "3"})
    tree = build_tree(config, ["input_output", "static_analysis"])
    context = GradeContext("python", {"main.py": "print(1 + 2)\n"}, FakeRunner(ran("3\n")))
    result = await grade(tree, context)
    assert result.children["penalty"].score == 100
    assert result.final_score == 100


async def test_a_violated_penalty_deducts_with_the_usual_formula() -> None:
    config = penalty_config({"name": "expect_output", "expected_output": "3"})
    tree = build_tree(config, ["input_output", "static_analysis"])
    source = "import os\nprint(1 + 2)\n"
    result = await grade(tree, GradeContext("python", {"main.py": source}, FakeRunner(ran("3"))))
    # penalty = (0 + 100) / 2 = 50; final = 100 - (100 - 50) * 30/100 = 85
    assert result.final_score == 85


def test_a_function_in_two_templates_must_be_qualified(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.grading import criteria

    static = get_template("static_analysis")
    copy = Template("lint", False, {"forbidden_import": static.functions["forbidden_import"]})
    monkeypatch.setattr(
        criteria, "get_template", lambda name: copy if name == "lint" else get_template(name)
    )
    test = {"name": "no_os", "type": "forbidden_import", "imports": ["os"]}
    with pytest.raises(InvalidCriteria, match="is in static_analysis and lint; name one"):
        build_tree({"base": {"tests": [test]}}, ["static_analysis", "lint"])
    qualified = {**test, "type": "lint.forbidden_import"}
    tree = build_tree({"base": {"tests": [qualified]}}, ["static_analysis", "lint"])
    assert tree.tests()[0].template is copy
