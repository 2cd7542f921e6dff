"""Which plain `def` functions may run on the event loop: those that provably cannot block.

A `def` tool normally runs in a worker thread, so a slow one never stalls other requests.
The hand-off costs more than the rest of a request's path (the thread must win the GIL
from a busy event loop), and for a function like `return a + b` it buys nothing. Such a
function is recognised from its byte code: no calls (so no I/O, no sleeping, no locks), no
loops, no imports, no generators, a bounded length, and only operators whose cost is
bounded by the size of the request (no `**` or `<<`, which turn small numbers into huge
ones, and `*` only when every parameter is a number, so a string cannot be repeated a
billion times). No attribute is read (a property is code), and every parameter is plain
data (numbers, strings, None, literals, and lists, tuples or dicts of them), so the
operators that remain are the built-in ones. Anything else, and anything that cannot be
read, goes to the thread pool.

`@server.tool(inline=True)` runs a function on the loop on its author's word (it must be
quick and never block); `inline=False` keeps even a provably bounded one in the pool.
"""

from __future__ import annotations

import dis
import inspect
import typing
from collections.abc import Callable
from typing import Any

MAX_INSTRUCTIONS = 200
_NUMBERS = (int, float, bool)
_ALLOWED = frozenset({
    "CACHE", "NOP", "RESUME", "EXTENDED_ARG", "COPY", "SWAP", "POP_TOP", "PUSH_NULL",
    "LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_LOAD_FAST", "LOAD_CONST", "LOAD_SMALL_INT",
    "LOAD_DEREF", "LOAD_CLOSURE", "COPY_FREE_VARS", "MAKE_CELL", "LOAD_GLOBAL", "LOAD_NAME",
    "STORE_FAST", "STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST", "STORE_DEREF", "DELETE_FAST",
    "RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS",
    "BINARY_OP", "BINARY_SUBSCR", "BINARY_SLICE", "COMPARE_OP", "IS_OP", "CONTAINS_OP", "TO_BOOL",
    "UNARY_NEGATIVE", "UNARY_NOT", "UNARY_INVERT",
    "POP_JUMP_FORWARD_IF_FALSE", "POP_JUMP_FORWARD_IF_TRUE", "POP_JUMP_FORWARD_IF_NONE",
    "POP_JUMP_FORWARD_IF_NOT_NONE", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE", "POP_JUMP_IF_NONE",
    "POP_JUMP_IF_NOT_NONE", "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP", "JUMP_FORWARD", "NOT_TAKEN",
    "BUILD_TUPLE", "BUILD_LIST", "BUILD_MAP", "BUILD_CONST_KEY_MAP", "BUILD_STRING", "BUILD_SET", "BUILD_SLICE",
    "LIST_EXTEND", "LIST_APPEND", "MAP_ADD", "DICT_UPDATE", "DICT_MERGE", "SET_UPDATE",
    "FORMAT_VALUE", "FORMAT_SIMPLE", "FORMAT_WITH_SPEC", "CONVERT_VALUE",
})
_UNBOUNDED_OPERATORS = frozenset({"**", "**=", "<<", "<<="})
_REPEATING_OPERATORS = frozenset({"*", "*="})


def provably_bounded(fn: Callable[..., Any]) -> bool:
    """Whether `fn` (a plain function) can neither block nor run for long, judged from its byte code."""
    code = getattr(fn, "__code__", None)
    if code is None or inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn):
        return False
    if any(inspect.iscode(const) for const in code.co_consts):
        return False  # a lambda, comprehension or nested function: code we would have to follow
    try:
        instructions = list(dis.get_instructions(code))
    except Exception:
        return False
    if len(instructions) > MAX_INSTRUCTIONS:
        return False
    hints = _hints(fn)
    if hints is None or not all(_plain(hint) for hint in hints.values()):
        return False
    numbers_only = all(hint in _NUMBERS for hint in hints.values())
    for instruction in instructions:
        name = instruction.opname
        if name not in _ALLOWED:
            return False  # calls, loops (backward jumps), imports, with-blocks, attribute or global stores
        if name == "BINARY_OP":
            operator = instruction.argrepr
            if operator in _UNBOUNDED_OPERATORS or (operator in _REPEATING_OPERATORS and not numbers_only):
                return False
    return True


def _hints(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """Each parameter's annotation (unannotated ones are Any, which is not plain data)."""
    try:
        hints = typing.get_type_hints(fn)
        parameters = inspect.signature(fn).parameters
    except Exception:
        return None
    return {name: hints.get(name, Any) for name in parameters}


def _plain(annotation: Any) -> bool:
    """Plain data: what JSON decodes to, so its operators are the built-in, bounded ones."""
    if annotation in (*_NUMBERS, str, type(None), None):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin in (list, tuple, dict, typing.Union) or str(origin) == "<class 'types.UnionType'>":
        return all(arg is Ellipsis or _plain(arg) for arg in typing.get_args(annotation))
    return False
