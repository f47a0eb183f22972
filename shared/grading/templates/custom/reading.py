"""Reading an instructor's module without running it: its `@test` functions and their
parameters, or every reason it cannot be used, each message starting with its line.

Only `compile` and `ast` touch the source; neither executes it.
"""

import ast
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

TEST_DECORATOR = "test"
# Every custom test takes these (the sandbox run's limits); they never reach the function.
RESERVED_PARAMETERS = frozenset({"time_limit_ms", "memory_limit_mb"})
_ANNOTATIONS: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list[Any],
    "list[str]": list[str],
    "list[int]": list[int],
    "list[float]": list[float],
    "dict": dict[str, Any],
}
_ANNOTATION_NAMES = ", ".join(_ANNOTATIONS)


class Required:
    """The default of a parameter that has none."""


REQUIRED = Required()


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    annotation: Any  # a type pydantic validates with
    default: Any  # REQUIRED when the parameter has no default


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str
    parameters: tuple[ParameterSpec, ...]
    accepts_more: bool  # declares **params, so any other parameter is welcome too


def read_module(source: str, filename: str) -> tuple[list[FunctionSpec], list[str]]:
    """The module's test functions and the problems found (empty when it is usable)."""
    tree = _syntax_tree(source, filename)
    if isinstance(tree, str):
        return [], [tree]
    specs: list[FunctionSpec] = []
    problems: list[str] = []
    seen: set[str] = set()
    for node in _test_functions(tree, problems):
        if node.name in seen:
            problems.append(f"line {node.lineno}: test function {node.name!r} is defined twice")
        seen.add(node.name)
        spec = _function_spec(node, problems)
        if spec is not None:
            specs.append(spec)
    if not seen and not problems:
        problems.append(f"the module declares no test function; mark each with @{TEST_DECORATOR}")
    return specs, problems


def _syntax_tree(source: str, filename: str) -> ast.Module | str:
    """The parsed module, or why it does not compile."""
    try:
        # compile() also runs the compiler's checks (e.g. 'return' outside a function).
        compile(source, filename, "exec", dont_inherit=True)
        return ast.parse(source, filename)
    except SyntaxError as error:
        return f"line {error.lineno}, column {error.offset}: {error.msg}"
    except (ValueError, RecursionError, MemoryError) as error:
        return f"the module cannot be compiled: {type(error).__name__}: {error}"


def _test_functions(tree: ast.Module, problems: list[str]) -> list[ast.FunctionDef]:
    """Top-level functions marked @test; misuses of the decorator are reported."""
    found: list[ast.FunctionDef] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        marks = [d for d in node.decorator_list if _mentions_test(d)]
        if not marks:
            continue
        where = f"line {node.lineno}: test function {node.name!r}"
        if isinstance(node, ast.AsyncFunctionDef):
            problems.append(f"{where} must be a plain def, not async def")
        elif len(node.decorator_list) > 1 or not isinstance(marks[0], ast.Name):
            problems.append(f"{where}: write @{TEST_DECORATOR} alone, as its only decorator")
        else:
            found.append(node)
    return found


def _mentions_test(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Name) and target.id == TEST_DECORATOR


def _function_spec(node: ast.FunctionDef, problems: list[str]) -> FunctionSpec | None:
    where = f"line {node.lineno}: test function {node.name!r}"
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    before = len(problems)
    if not positional:
        problems.append(f"{where} must take the submission as its first parameter")
    if args.vararg is not None:
        problems.append(f"{where}: *{args.vararg.arg} is not supported; name each parameter")
    if len(args.posonlyargs) > 1:
        problems.append(f"{where}: only the submission may be positional-only")
    parameters = [
        _parameter(arg, default, where, problems) for arg, default in _with_defaults(node.args)[1:]
    ]
    if len(problems) > before:
        return None
    description = (ast.get_docstring(node) or "").strip().split("\n")[0]
    return FunctionSpec(
        node.name, description, tuple(p for p in parameters if p), args.kwarg is not None
    )


def _with_defaults(args: ast.arguments) -> list[tuple[ast.arg, ast.expr | None]]:
    """Every named parameter with its default expression (None when it has none)."""
    positional = [*args.posonlyargs, *args.args]
    padding: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    pairs = list(zip(positional, [*padding, *args.defaults], strict=True))
    return pairs + list(zip(args.kwonlyargs, args.kw_defaults, strict=True))


def _parameter(
    arg: ast.arg, default: ast.expr | None, where: str, problems: list[str]
) -> ParameterSpec | None:
    annotation = _annotation(arg.annotation)
    problem = _name_problem(arg.arg)
    if problem is None and annotation is None:
        problem = f"annotate it with one of {_ANNOTATION_NAMES} (or X | None)"
    value: Any = REQUIRED
    if problem is None and default is not None:
        value, problem = _default(default, annotation)
    if problem is not None:
        problems.append(f"{where}: parameter {arg.arg!r}: {problem}")
        return None
    return ParameterSpec(arg.arg, annotation, value)


def _name_problem(name: str) -> str | None:
    # Underscored names are private to pydantic; BaseModel's attributes cannot be fields.
    if name.startswith("_") or name in RESERVED_PARAMETERS or hasattr(BaseModel, name):
        return "this name is reserved; choose another"
    return None


def _annotation(node: ast.expr | None) -> Any:
    """The type for an annotation; Any when there is none; None when unsupported."""
    if node is None:
        return Any
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value  # a quoted annotation: "list[str]"
    else:
        text = ast.unparse(node)
    text = text.replace(" ", "")
    optional = text.endswith("|None") or text.startswith("None|")
    base = _ANNOTATIONS.get(text.removesuffix("|None").removeprefix("None|"))
    if base is None:
        return None
    return base | None if optional else base


def _default(node: ast.expr, annotation: Any) -> tuple[Any, str | None]:
    """The default's value, or a problem when it is not a literal of the annotated type."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None, "its default must be a literal (a number, text, list, dict, True/False/None)"
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return None, f"its default {value!r} does not match its annotation"
    return value, None
