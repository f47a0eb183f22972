"""What a source file imports, read from its syntax tree (so comments and strings never
count), and whether an import brings in a forbidden module.

Forms read, per ast-grep language:
- python: `import a, b.c as d`; `from x import y` (brings in "x" and "x.y");
  `from x import *`; `__import__("x")` and `importlib.import_module("x")` with a literal.
- java: `import a.b.C;`, `import a.b.*;`, `import static a.b.C.m;`.
- javascript: `import ... from "m"`, `import "m"`, `export ... from "m"`, `require("m")`,
  dynamic `import("m")` (a literal name; "node:fs" also counts as "fs").
- c, cpp: `#include <x.h>` and `#include "x.h"`.
Dynamic imports of a computed name cannot be read from the tree and are not reported.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ast_grep_py import SgNode

from shared.grading.structural import line_of, search

SHOWN_STATEMENT_CHARS = 80


def _rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {"rule": rule}


def _kinds(*kinds: str) -> dict[str, Any]:
    return _rule({"any": [{"kind": kind} for kind in kinds]})


_PYTHON_DYNAMIC = _rule(
    {
        "kind": "call",
        "has": {"field": "function", "regex": r"^(__import__|(importlib\.)?import_module)$"},
    }
)
_JAVASCRIPT_DYNAMIC = _rule(
    {
        "kind": "call_expression",
        "has": {"field": "function", "any": [{"kind": "import"}, {"regex": "^require$"}]},
    }
)
# Node kinds inside string literals (python, javascript, c and cpp grammars).
_STRING_CONTENT = frozenset({"string_content", "string_fragment"})
_INTERPOLATION = frozenset({"interpolation", "template_substitution"})


@dataclass(frozen=True)
class ImportFound:
    """One import statement or call: where, what it brings in, and how it was written."""

    line: int
    names: tuple[str, ...]  # e.g. ("os", "os.path") for `from os import path`
    statement: str


def imports_in(root: SgNode, grep_language: str) -> list[ImportFound]:
    found = _READERS[grep_language](root)
    return sorted(found, key=lambda item: item.line)


def brings_in(imported: str, forbidden: str) -> bool:
    """Whether importing `imported` uses the forbidden module or package: "os" forbids
    "os.path", "fs" forbids "fs/promises", "stdio" forbids "stdio.h", and a wildcard
    import of a package forbids the package's direct members."""
    if imported == forbidden or imported.startswith((f"{forbidden}.", f"{forbidden}/")):
        return True
    package = imported.removesuffix("*")
    if package == imported or not forbidden.startswith(package):
        return False
    return "." not in forbidden[len(package) :]


def _found(node: SgNode, names: list[str]) -> ImportFound:
    statement = next(iter(node.text().strip().splitlines()), "")
    return ImportFound(line_of(node), tuple(names), statement[:SHOWN_STATEMENT_CHARS])


def _literal(node: SgNode | None) -> str | None:
    """The value of a string literal without interpolation, else None."""
    children = [] if node is None else node.children()
    if not children or any(child.kind() in _INTERPOLATION for child in children):
        return None
    return "".join(child.text() for child in children if child.kind() in _STRING_CONTENT)


def _first_argument(call: SgNode) -> SgNode | None:
    arguments = call.field("arguments")
    children = [] if arguments is None else arguments.named_children()
    return children[0] if children else None


def _dynamic_imports(root: SgNode, rule: dict[str, Any]) -> list[ImportFound]:
    found = []
    for call in search(root, rule):
        name = _literal(_first_argument(call))
        if name:
            found.append(_found(call, [name]))
    return found


def _python_imports(root: SgNode) -> list[ImportFound]:
    plain = [
        _found(node, [_python_module(name) for name in node.field_children("name")])
        for node in root.find_all(kind="import_statement")
    ]
    from_rule = _kinds("import_from_statement", "future_import_statement")
    from_imports = [_python_from_import(node) for node in search(root, from_rule)]
    return plain + from_imports + _dynamic_imports(root, _PYTHON_DYNAMIC)


def _python_module(name: SgNode) -> str:
    dotted = name.field("name") if name.kind() == "aliased_import" else name
    return (dotted or name).text()


def _python_from_import(node: SgNode) -> ImportFound:
    module_node = node.field("module_name")
    module = "__future__" if module_node is None else module_node.text()
    members = [_python_module(name) for name in node.field_children("name")]
    if node.find(kind="wildcard_import") is not None:
        members.append("*")
    return _found(node, [module, *(f"{module}.{member}" for member in members)])


def _java_imports(root: SgNode) -> list[ImportFound]:
    found = []
    for node in root.find_all(kind="import_declaration"):
        named = node.named_children()
        if not named:
            continue
        name = "".join(named[0].text().split())
        wildcard = any(child.kind() == "asterisk" for child in named)
        found.append(_found(node, [f"{name}.*" if wildcard else name]))
    return found


def _javascript_imports(root: SgNode) -> list[ImportFound]:
    found = []
    for node in search(root, _kinds("import_statement", "export_statement")):
        name = _literal(node.field("source"))
        if name:
            found.append(_found(node, [name]))
    found += _dynamic_imports(root, _JAVASCRIPT_DYNAMIC)
    return [_found_without_node_prefix(item) for item in found]


def _found_without_node_prefix(found: ImportFound) -> ImportFound:
    # "node:fs" is Node's explicit spelling of the built-in "fs".
    plain = [name.removeprefix("node:") for name in found.names if name.startswith("node:")]
    return ImportFound(found.line, (*found.names, *plain), found.statement)


def _c_includes(root: SgNode) -> list[ImportFound]:
    found = []
    for node in root.find_all(kind="preproc_include"):
        path = node.field("path")
        if path is None:
            continue
        name = path.text()[1:-1] if path.kind() == "system_lib_string" else _literal(path)
        if name:
            found.append(_found(node, [name]))
    return found


_READERS: dict[str, Callable[[SgNode], list[ImportFound]]] = {
    "python": _python_imports,
    "java": _java_imports,
    "javascript": _javascript_imports,
    "c": _c_includes,
    "cpp": _c_includes,
}
