"""String annotations of tool functions (``from __future__ import annotations``) read back
into objects without ``eval``: a small resolver for the expressions annotations are made of.

Allowed: names (the function's globals, then the script's builtins), public dotted
attributes, subscripts, tuples and lists, constants, ``|``, and calls of ``poe.Doc`` only.
Anything else (other calls, lambdas, comprehensions, operators, private or dunder names) is
refused with TypeError. What it builds only ever becomes a JSON schema; nothing resolved here
is handed back to the script.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Mapping
from typing import Any

MAX_ANNOTATION_CHARS = 2_000
MAX_NODES = 200

_MISSING = object()


class _Resolver:
    def __init__(self, namespace: Mapping[str, Any], builtin: Mapping[str, Any], doc: type) -> None:
        self._namespace = namespace
        self._builtins = builtin
        self._doc = doc
        self._nodes = 0

    def resolve(self, node: ast.expr) -> Any:
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise TypeError("the annotation is too complex to read")
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise TypeError(f"annotations may not read private attributes ({node.attr!r})")
            return getattr(self.resolve(node.value), node.attr)
        if isinstance(node, ast.Subscript):
            return self.resolve(node.value)[self.resolve(node.slice)]
        if isinstance(node, ast.Tuple):
            return tuple(self.resolve(item) for item in node.elts)
        if isinstance(node, ast.List):
            return [self.resolve(item) for item in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.resolve(node.left) | self.resolve(node.right)
        if isinstance(node, ast.Call):
            return self._doc_call(node)
        raise TypeError(f"annotations may not contain {type(node).__name__} expressions")

    def _name(self, name: str) -> Any:
        if name.startswith("_"):
            raise TypeError(f"annotations may not name private names ({name!r})")
        for scope in (self._namespace, self._builtins):
            value = scope.get(name, _MISSING)
            if value is not _MISSING:
                return value
        raise TypeError(f"the annotation names {name!r}, which the script does not define")

    def _doc_call(self, node: ast.Call) -> Any:
        if self.resolve(node.func) is not self._doc:
            raise TypeError("annotations may call poe.Doc only")
        if any(isinstance(arg, ast.Starred) for arg in node.args) or any(
            keyword.arg is None for keyword in node.keywords
        ):
            raise TypeError("poe.Doc(...) in an annotation takes plain arguments")
        args = [self.resolve(arg) for arg in node.args]
        kwargs = {str(k.arg): self.resolve(k.value) for k in node.keywords}
        return self._doc(*args, **kwargs)


def resolve_annotation(text: str, func: Callable[..., Any], doc: type) -> Any:
    """The object the annotation string ``text`` of ``func``'s parameter stands for."""
    if len(text) > MAX_ANNOTATION_CHARS:
        raise TypeError("the annotation is too long to read")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise TypeError(f"the annotation {text[:80]!r} is not an expression") from None
    target = getattr(func, "__func__", func)  # a bound method: the function's globals
    namespace = getattr(target, "__globals__", None)
    if not isinstance(namespace, dict):
        raise TypeError("string annotations are read only for functions the script defines")
    builtin = namespace.get("__builtins__", builtins.__dict__)
    if not isinstance(builtin, dict):
        builtin = vars(builtin)
    try:
        return _Resolver(namespace, builtin, doc).resolve(tree.body)
    except RecursionError:
        raise TypeError("the annotation is too deeply nested to read") from None
