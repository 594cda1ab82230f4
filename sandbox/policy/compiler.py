"""Source -> code object under the sandbox policy, or every problem with its position.

RestrictedPython's transformer over ``ast.parse``, then ``compile(..., dont_inherit=True)``
(not ``compile_restricted``, which inherits this module's ``from __future__ import
annotations`` and so turns every annotation into a string: ``poe.Doc`` needs objects, and
strings tempt code to evaluate them). The transformer refuses every syntax node it has no
rule for; the changes below make ordinary Python work and add a few refusals.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from types import CodeType

from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer

FILENAME = "<script>"
MAX_SOURCE_BYTES = 256 * 1024  # SPEC §5


def _dunders(names: str) -> tuple[str, ...]:
    return tuple(f"__{name}__" for name in names.split())


# -- POLICY (names) ------------------------------------------------------------------------
# Names starting with "_" are refused as variables, parameters, attributes and keyword
# arguments, except:

#: Attributes a script may read on any object: the value must be a str (or None).
READABLE_DUNDERS: dict[str, str] = {
    "__name__": "f'{type(e).__name__}: {e}' and friends; also the global __name__",
    "__qualname__": "like __name__",
    "__doc__": "docstrings, e.g. of tool functions",
}

#: Special methods a script class may define, and reach on ``super()`` objects of its own
#: classes (``super().__init__(...)``). Python itself checks what most must return.
SCRIPT_DUNDERS: dict[str, str] = {
    **dict.fromkeys(_dunders("init post_init"), "construction (dataclasses call post_init)"),
    **dict.fromkeys(_dunders("repr str format"), "text of objects (Python checks it is a str)"),
    **dict.fromkeys(_dunders("eq ne lt le gt ge hash"), "comparison"),
    **dict.fromkeys(
        _dunders("contains len iter next getitem setitem delitem bool reversed"),
        "containers and iterators",
    ),
    **dict.fromkeys(_dunders("enter exit"), "with statements"),
    **dict.fromkeys(_dunders("call"), "callable objects"),
    **dict.fromkeys(
        _dunders(
            "add radd iadd sub rsub isub mul rmul imul truediv rtruediv floordiv mod "
            "neg pos abs and or xor"
        ),
        "arithmetic",
    ),
    # Not: __getattr__/__getattribute__/__setattr__/__delattr__ (objects that answer
    # attribute lookups themselves can lie to runtime code), __del__ (runs at any time, even
    # after the script's last line), __new__/__init_subclass__/__set_name__/
    # __class_getitem__/__mro_entries__ (class creation hooks), __reduce*__/__getstate__/
    # __setstate__/__copy__/__deepcopy__ (reconstruction protocols), __get__/__set__/
    # __delete__ (descriptors run inside other objects' lookups).
}

#: Names a script may not bind.
RESERVED_NAMES: dict[str, str] = {
    "print": "print is the chat's; a function of that name would never be called",
}

# -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Why the source cannot run; ``line`` and ``col`` count from 1."""

    line: int
    col: int
    message: str


class SourceRejected(Exception):
    """The source does not compile under the policy; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.line}:{p.col}: {p.message}" for p in problems))
        self.problems = problems


def _is_private(name: str) -> bool:
    return name.startswith("_") and name != "_"


class _ScriptTransformer(RestrictingNodeTransformer):
    """RestrictedPython's transformer, recording positions, with the changes listed above."""

    def __init__(self) -> None:
        super().__init__(errors=[], warnings=[], used_names={})
        self.problems: list[Problem] = []

    def error(self, node: ast.AST, info: str) -> None:
        super().error(node, info)
        line = getattr(node, "lineno", 1) or 1
        col = (getattr(node, "col_offset", 0) or 0) + 1
        self.problems.append(Problem(line, col, info))

    # -- names --------------------------------------------------------------------------

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:  # type: ignore[override]
        """Private names are refused; a class may define the special methods listed above."""
        if name is None:
            return
        if _is_private(name):
            if allow_magic_methods and name in SCRIPT_DUNDERS and node.col_offset != 0:  # type: ignore[attr-defined]
                return
            self.error(node, f'"{name}" is an invalid variable name because it starts with "_"')
        elif name in RESERVED_NAMES:
            self.error(node, f'"{name}" is a reserved name: {RESERVED_NAMES[name]}')

    def visit_Name(self, node: ast.Name) -> ast.AST:
        """``__name__`` may be read (``if __name__ == "__main__":``); ``printed`` is a name."""
        if isinstance(node.ctx, ast.Load) and node.id == "__name__":
            return node
        if node.id == "printed":  # RestrictedPython's print buffer; we never buffer
            self.check_name(node, node.id)
            return node
        return super().visit_Name(node)  # type: ignore[return-value]

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        """Reads of READABLE_DUNDERS and SCRIPT_DUNDERS compile; ``_getattr_`` decides."""
        if isinstance(node.ctx, ast.Load) and (
            node.attr in READABLE_DUNDERS or node.attr in SCRIPT_DUNDERS
        ):
            node = self.node_contents_visit(node)
            call = ast.Call(
                func=ast.Name("_getattr_", ast.Load()),
                args=[node.value, ast.Constant(node.attr)],
                keywords=[],
            )
            return ast.copy_location(call, node)
        return super().visit_Attribute(node)  # type: ignore[return-value]

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        """No private keyword parameters of library code (``f(_internal=...)``)."""
        if node.arg is not None and _is_private(node.arg):
            self.error(
                node, f'"{node.arg}" is an invalid keyword argument because it starts with "_"'
            )
        return self.node_contents_visit(node)

    def visit_Global(self, node: ast.Global) -> ast.AST:
        """Allow ``global`` of the script's own names."""
        for name in node.names:
            self.check_name(node, name)
        return node

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        """Allow ``nonlocal``: it rebinds only the script's own enclosing variables."""
        for name in node.names:
            self.check_name(node, name)
        return node

    # -- imports ------------------------------------------------------------------------

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        """No ``__future__`` imports, no relative imports; the rest as RestrictedPython."""
        if node.module == "__future__":
            if any(alias.name == "annotations" for alias in node.names):
                self.error(
                    node,
                    "from __future__ import annotations is not supported: annotations stay "
                    "objects (poe.Doc[...]) and are never evaluated from strings",
                )
            else:
                self.error(node, "from __future__ imports are not available in scripts")
        elif node.level:
            self.error(node, "relative imports are not available: a script is a single file")
        return self.check_import_names(node)

    # -- annotations and assignments ----------------------------------------------------

    def _check_annotation(self, node: ast.AST, annotation: ast.expr | None) -> None:
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            self.error(
                annotation,
                "string annotations are not supported: write the type itself "
                "(annotations are objects and are never evaluated from strings)",
            )

    def visit_arg(self, node: ast.arg) -> ast.AST:
        """Parameters: annotations are evaluated as ordinary (guarded) expressions."""
        self._check_annotation(node, node.annotation)
        return self.node_contents_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        """RestrictedPython's rules, and the return annotation must not be a string."""
        self._check_annotation(node, node.returns)
        return super().visit_FunctionDef(node)  # type: ignore[return-value]

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        """Allow ``x: int = 0`` (dataclass fields); targets are guarded like assignments."""
        self._check_annotation(node, node.annotation)
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        """``x += y`` for names (RestrictedPython), attributes and items (added here).

        ``o.a += v`` becomes ``_write_(t).a = _inplacevar_("+=", _getattr_(t, "a"), v)``
        with ``t`` the object evaluated once, so the read, the write and ``__iadd__``
        each go through their guard, as they would one at a time."""
        target = node.target
        if isinstance(target, ast.Name):
            return super().visit_AugAssign(node)  # type: ignore[return-value]
        op = ast.Constant(_IOPERATORS[type(node.op)])
        value = self.visit(node.value)
        obj_name = self.gen_tmp_name()
        holders: list[tuple[str, ast.expr]] = [(obj_name, self.visit(target.value))]
        if isinstance(target, ast.Attribute):
            if _is_private(target.attr) or target.attr in INSPECT_ATTRIBUTES:
                self.error(node, f'"{target.attr}" is an invalid attribute name')
            current: ast.expr = _call("_getattr_", _load(obj_name), ast.Constant(target.attr))
            store: ast.expr = ast.Attribute(
                _call("_write_", _load(obj_name)), target.attr, ast.Store()
            )
        else:
            key_name = self.gen_tmp_name()
            holders.append((key_name, self.visit(target.slice)))
            current = _call("_getitem_", _load(obj_name), _load(key_name))
            store = ast.Subscript(_call("_write_", _load(obj_name)), _load(key_name), ast.Store())
        body: list[ast.stmt] = [ast.Assign([store], _call("_inplacevar_", op, current, value))]
        for name, expr in reversed(holders):
            body = [
                ast.Assign([ast.Name(name, ast.Store())], expr),
                ast.Try(
                    body=body,
                    handlers=[],
                    orelse=[],
                    finalbody=[ast.Delete([ast.Name(name, ast.Del())])],
                ),
            ]
        for stmt in body:  # new nodes take the statement's position; the script's keep theirs
            for child in ast.walk(stmt):
                if "lineno" in child._attributes and getattr(child, "lineno", None) is None:
                    ast.copy_location(child, node)
        return body

    # -- classes ------------------------------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        """Every class gets ``metaclass=__metaclass__`` (guards.py); other keywords stay."""
        self.check_name(node, node.name)
        node = self.node_contents_visit(node)
        if any(keyword.arg == "metaclass" for keyword in node.keywords):
            self.error(node, 'The keyword argument "metaclass" is not allowed.')
        hook = ast.keyword("metaclass", ast.Name("__metaclass__", ast.Load()))
        node.keywords = [*node.keywords, ast.copy_location(hook, node)]
        ast.fix_missing_locations(node)
        return node


_IOPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+=",
    ast.Sub: "-=",
    ast.Mult: "*=",
    ast.Div: "/=",
    ast.Mod: "%=",
    ast.Pow: "**=",
    ast.LShift: "<<=",
    ast.RShift: ">>=",
    ast.BitOr: "|=",
    ast.BitXor: "^=",
    ast.BitAnd: "&=",
    ast.FloorDiv: "//=",
    ast.MatMult: "@=",
}


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=_load(func), args=list(args), keywords=[])


def compile_script(source: str) -> CodeType:
    """The script's module code; raises SourceRejected with every problem found."""
    if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise SourceRejected([Problem(1, 1, f"source is larger than {MAX_SOURCE_BYTES} bytes")])
    with warnings.catch_warnings():
        # Invalid escapes and the like warn at parse time; they are not the user's problem
        # to see on the server's stderr, and pytest would turn them into errors.
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(source, FILENAME, "exec")
            transformer = _ScriptTransformer()
            transformer.visit(tree)
            if transformer.problems:
                raise SourceRejected(transformer.problems)
            ast.fix_missing_locations(tree)
            return compile(tree, FILENAME, "exec", dont_inherit=True)
        except SyntaxError as exc:  # from the parser, or the compiler ('return' outside def)
            line, col = exc.lineno or 1, exc.offset or 1
            raise SourceRejected([Problem(line, col, exc.msg or "invalid syntax")]) from None
        except (RecursionError, MemoryError):
            raise SourceRejected([Problem(1, 1, "source is too deeply nested")]) from None
        except ValueError as exc:  # NUL bytes
            raise SourceRejected([Problem(1, 1, f"source cannot be parsed: {exc}")]) from None


def check_source(source: str) -> list[Problem]:
    """Every problem that would stop ``source`` from running; empty when it compiles."""
    try:
        compile_script(source)
    except SourceRejected as exc:
        return exc.problems
    return []
