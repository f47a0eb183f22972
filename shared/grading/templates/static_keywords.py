"""The keyword vocabulary of static_analysis: language constructs as ast-grep rules.

A keyword names a construct an instructor may forbid or require; each language maps it
to the syntax that expresses it there:

| keyword | python | java | javascript (node) | c | cpp |
|---|---|---|---|---|---|
| for | for (also async for) | for, enhanced for | for, for-in, for-of | for | for, range-for |
| for_each | for | enhanced for | for-in, for-of | - | range-for |
| for_in / for_of | - | - | for-in / for-of | - | - |
| while | while | while | while | while | while |
| do_while | - | do-while | do-while | do-while | do-while |
| list_/set_/dict_comprehension, generator_expression, comprehension (all 4) | yes | - | - | - | - |
| loops | every row above that is a loop, comprehensions included |||||
| eval | eval() | - | eval() | - | - |
| exec | exec() | - | - | - | - |
| recursion | a function or method that calls itself directly ||||

The reference autograder's names are accepted too, each meaning exactly its rule there:
`for_loop` (the classic for statement only: not for-each, for-in/of or range-for),
`while_loop`, `do_while_loop` (c, cpp), `eval_call` (python, javascript), `exec_call`
(python). A name that has no rule in the submission's language is skipped, as there.

Recursion is direct only: a call by the function's own name (or `self.`/`this.` name);
mutual recursion and C++ methods defined outside their class (`A::f`) are not found.
Methods like `forEach` or `map` are ordinary calls, not loops; forbid them with a rule.
"""

from dataclasses import dataclass, field
from typing import Any

from shared.grading.messages import Phrase

Rule = dict[str, Any]


@dataclass(frozen=True, eq=False)  # compared by identity: a rule is a dict
class Construct:
    """One kind of syntax to look for, and how a student reads its name (in their
    language, once known). `extra` holds the other parts of an ast-grep config a custom
    rule may have (constraints, utils)."""

    description: Phrase
    rule: Rule
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        return {"rule": self.rule, **self.extra}


Vocabulary = dict[str, tuple[Construct, ...]]


def _kind(description_key: str, kind: str) -> Construct:
    return Construct(Phrase(description_key), {"kind": kind})


def _call(description_key: str, call_kind: str, function: str) -> Construct:
    rule = {"kind": call_kind, "has": {"field": "function", "regex": f"^{function}$"}}
    return Construct(Phrase(description_key), rule)


def _containing(rule: Rule) -> Rule:
    """Matches a node with a descendant (at any depth) matching `rule`."""
    return {"has": {"stopBy": "end", **rule}}


def _named() -> Rule:
    return {"has": {"field": "name", "pattern": "$F"}}


_PYTHON_CALL = {"kind": "call", "has": {"field": "function", "pattern": "$F"}}
_PYTHON_METHOD_CALL = {
    "kind": "call",
    "has": {"field": "function", "any": [{"pattern": "self.$F"}, {"pattern": "cls.$F"}]},
}
_PYTHON_RECURSION = {
    "all": [
        {"kind": "function_definition"},
        _named(),
        {"any": [_containing(_PYTHON_CALL), _containing(_PYTHON_METHOD_CALL)]},
    ]
}
_JAVA_OWN_CALL = {
    "kind": "method_invocation",
    "has": {"field": "name", "pattern": "$F"},
    "any": [
        {"not": {"has": {"field": "object", "regex": ""}}},
        {"has": {"field": "object", "kind": "this"}},
    ],
}
_JAVA_RECURSION = {"all": [{"kind": "method_declaration"}, _named(), _containing(_JAVA_OWN_CALL)]}


def _call_expression(callee: str) -> Rule:
    """A call to `callee` in the grammars that name calls call_expression (JS, C, C++)."""
    return {"kind": "call_expression", "has": {"field": "function", "pattern": callee}}


_JAVASCRIPT_FUNCTION_VALUE = {
    "field": "value",
    "any": [{"kind": "arrow_function"}, {"kind": "function_expression"}],
    **_containing(_call_expression("$F")),
}
_JAVASCRIPT_RECURSION = {
    "any": [
        {
            "all": [
                {"kind": "function_declaration"},
                _named(),
                _containing(_call_expression("$F")),
            ]
        },
        {
            "all": [
                {"kind": "variable_declarator"},
                _named(),
                {"has": _JAVASCRIPT_FUNCTION_VALUE},
            ]
        },
        {
            "all": [
                {"kind": "method_definition"},
                _named(),
                _containing(_call_expression("this.$F")),
            ]
        },
    ]
}
_C_DECLARATOR = {"kind": "function_declarator", "has": {"field": "declarator", "pattern": "$F"}}
_C_RECURSION = {
    "all": [
        {"kind": "function_definition"},
        # Functions returning pointers nest the declarator: `int *f(int n)`.
        {"has": {"field": "declarator", "any": [_C_DECLARATOR, _containing(_C_DECLARATOR)]}},
        {"has": {"field": "body", **_containing(_call_expression("$F"))}},
    ]
}


def _recursion(rule: Rule) -> Construct:
    return Construct(Phrase("static_analysis.construct.recursion"), rule)


def _with_loops(keywords: Vocabulary, *loops: str) -> Vocabulary:
    # In the order the loops are named, each construct once.
    every_loop = dict.fromkeys(construct for keyword in loops for construct in keywords[keyword])
    return {**keywords, "loops": tuple(every_loop)}


_WHILE = _kind("static_analysis.construct.while_loop", "while_statement")
_DO_WHILE = _kind("static_analysis.construct.do_while_loop", "do_statement")
_FOR = _kind("static_analysis.construct.for_loop", "for_statement")
_PYTHON_COMPREHENSIONS = (
    _kind("static_analysis.construct.list_comprehension", "list_comprehension"),
    _kind("static_analysis.construct.set_comprehension", "set_comprehension"),
    _kind("static_analysis.construct.dict_comprehension", "dictionary_comprehension"),
    _kind("static_analysis.construct.generator_expression", "generator_expression"),
)
_PYTHON_EVAL = _call("static_analysis.construct.eval_call", "call", "eval")
_PYTHON: Vocabulary = {
    "for": (_FOR,),
    "for_each": (_FOR,),
    "while": (_WHILE,),
    "list_comprehension": _PYTHON_COMPREHENSIONS[:1],
    "set_comprehension": _PYTHON_COMPREHENSIONS[1:2],
    "dict_comprehension": _PYTHON_COMPREHENSIONS[2:3],
    "generator_expression": _PYTHON_COMPREHENSIONS[3:],
    "comprehension": _PYTHON_COMPREHENSIONS,
    "eval": (_PYTHON_EVAL,),
    "exec": (_call("static_analysis.construct.exec_call", "call", "exec"),),
    "recursion": (_recursion(_PYTHON_RECURSION),),
}
_JAVA_FOR_EACH = _kind("static_analysis.construct.enhanced_for_loop", "enhanced_for_statement")
_JAVA: Vocabulary = {
    "for": (_FOR, _JAVA_FOR_EACH),
    "for_each": (_JAVA_FOR_EACH,),
    "while": (_WHILE,),
    "do_while": (_DO_WHILE,),
    "recursion": (_recursion(_JAVA_RECURSION),),
}


def _for_in_or_of(operator: str, description_key: str) -> Construct:
    rule = {"kind": "for_in_statement", "has": {"field": "operator", "regex": f"^{operator}$"}}
    return Construct(Phrase(description_key), rule)


_FOR_IN = _for_in_or_of("in", "static_analysis.construct.for_in_loop")
_FOR_OF = _for_in_or_of("of", "static_analysis.construct.for_of_loop")
_JAVASCRIPT_EVAL = _call("static_analysis.construct.eval_call", "call_expression", "eval")
_JAVASCRIPT: Vocabulary = {
    "for": (_FOR, _FOR_IN, _FOR_OF),
    "for_each": (_FOR_IN, _FOR_OF),
    "for_in": (_FOR_IN,),
    "for_of": (_FOR_OF,),
    "while": (_WHILE,),
    "do_while": (_DO_WHILE,),
    "eval": (_JAVASCRIPT_EVAL,),
    "recursion": (_recursion(_JAVASCRIPT_RECURSION),),
}
_C: Vocabulary = {
    "for": (_FOR,),
    "while": (_WHILE,),
    "do_while": (_DO_WHILE,),
    "recursion": (_recursion(_C_RECURSION),),
}
_CPP_RANGE_FOR = _kind("static_analysis.construct.range_for_loop", "for_range_loop")
_CPP = {**_C, "for": (_FOR, _CPP_RANGE_FOR), "for_each": (_CPP_RANGE_FOR,)}

# The reference autograder's keyword names, per language, as its rules define them.
_REFERENCE_NAMES: dict[str, Vocabulary] = {
    "python": {
        "for_loop": (_FOR,),
        "while_loop": (_WHILE,),
        "eval_call": (_PYTHON_EVAL,),
        "exec_call": _PYTHON["exec"],
    },
    "java": {"for_loop": (_FOR,), "while_loop": (_WHILE,)},
    "javascript": {"for_loop": (_FOR,), "while_loop": (_WHILE,), "eval_call": (_JAVASCRIPT_EVAL,)},
    "c": {"for_loop": (_FOR,), "while_loop": (_WHILE,), "do_while_loop": (_DO_WHILE,)},
    "cpp": {"for_loop": (_FOR,), "while_loop": (_WHILE,), "do_while_loop": (_DO_WHILE,)},
}
KEYWORDS: dict[str, Vocabulary] = {
    language: {**vocabulary, **_REFERENCE_NAMES[language]}
    for language, vocabulary in {
        "python": _with_loops(_PYTHON, "for", "while", "comprehension"),
        "java": _with_loops(_JAVA, "for", "while", "do_while"),
        "javascript": _with_loops(_JAVASCRIPT, "for", "while", "do_while"),
        "c": _with_loops(_C, "for", "while", "do_while"),
        "cpp": _with_loops(_CPP, "for", "while", "do_while"),
    }.items()
}
# Configs are checked before the submission's language is known: any language's word.
ALL_KEYWORDS = frozenset(keyword for vocabulary in KEYWORDS.values() for keyword in vocabulary)
