"""Source -> code object under the sandbox policy, or every problem with its position.

RestrictedPython's transformer over ``ast.parse``, then ``compile(..., dont_inherit=True)``
(not ``compile_restricted``, which inherits this module's ``from __future__ import
annotations`` and so turns every annotation into a string: ``poe.Doc`` needs objects, and
strings tempt code to evaluate them). The transformer refuses every syntax node it has no
rule for; the changes below make ordinary Python work and add a few refusals.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from types import CodeType
from typing import overload

from RestrictedPython.transformer import RestrictingNodeTransformer

FILENAME = "<script>"
MAX_SOURCE_BYTES = 1024 * 1024  # real bots run to 700k characters


# -- POLICY (names) ------------------------------------------------------------------------
# Scripts write ordinary Python: private names (``_helper``, ``self._cache``), special method
# definitions (``__init__``, ``__getattr__``, ...), private keyword arguments, string and
# postponed annotations. What the compiler refuses is only what would switch the guards off
# or outlive the run; what an attribute read may reach is decided at run time, by value
# (guards.py).

#: Names the compiled code itself uses: the guards it calls (``a.b`` becomes
#: ``_getattr_(a, "b")``), looked up like any name, so a binding of the script's (global,
#: local or in a class body) would replace the guard. Refused as names in every context.
SANDBOX_NAMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "_getattr_",
            "_getitem_",
            "_getiter_",
            "_write_",
            "_inplacevar_",
            "_apply_",
            "_unpack_sequence_",
            "_iter_unpack_sequence_",
            "_print_",
            "_print",
        ),
        "a guard the compiled script calls: a binding of this name would replace it",
    ),
    "__metaclass__": "the hook every class statement goes through (guards.CLASS_HOOK)",
    "__builtins__": "the run's builtins, the guards among them",
    "__del__": "a finalizer runs whenever the object is collected: inside runtime code, or "
    "after the run's last line",
    **dict.fromkeys(
        ("__array_interface__", "__array_struct__", "__cuda_array_interface__"),
        "numpy reads memory at whatever address these give: raw reads of the process",
    ),
}
#: Temporaries of the rewrite (RestrictedPython's ``_tmp0``, ``_tmp1``, ...).
TEMPORARY_NAME = re.compile(r"_tmp\d+")

#: Names a script may use but not bind.
RESERVED_NAMES: dict[str, str] = {
    "print": "print is the chat's; a function of that name would never be called",
    "__class__": "Python's own cell for super(); rebinding it confuses super() and isinstance",
}

#: Attributes a script may read but never set or delete, on any object.
UNWRITABLE_ATTRIBUTES: dict[str, str] = {
    "__class__": "would turn an object into one of another class: the script's own into the "
    "runtime's, with state the script chose",
    "__bases__": "would change a class's bases past the class hook's metaclass check",
    "__del__": SANDBOX_NAMES["__del__"],
    **{name: SANDBOX_NAMES[name] for name in SANDBOX_NAMES if name.startswith("__array_")},
    "__cuda_array_interface__": SANDBOX_NAMES["__cuda_array_interface__"],
    **dict.fromkeys(
        ("__getattr__", "__getattribute__"),
        "define it in the class statement: the class hook wraps it (guards.RAW_MEMORY_PROTOCOLS)",
    ),
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


def _locate(new: ast.AST, old: ast.AST) -> None:
    """Give a node made by the rewrite the position of the script's node it stands for.

    RestrictedPython's ``copy_locations`` also runs ``fix_missing_locations`` over the new
    node's whole subtree, which made each wrapped attribute re-walk the chain below it
    (quadratic in the chain's depth); compile_script fixes the rest once, at the end.
    (typeshed declares the positions on ast.expr, ast.stmt and others, not on ast.AST.)"""
    new.lineno = old.lineno  # type: ignore[attr-defined]
    new.col_offset = old.col_offset  # type: ignore[attr-defined]
    new.end_lineno = old.end_lineno  # type: ignore[attr-defined]
    new.end_col_offset = old.end_col_offset  # type: ignore[attr-defined]


class _ScriptTransformer(RestrictingNodeTransformer):
    """RestrictedPython's transformer, recording positions, with the policy above.

    Every rewrite here visits each node once: compile time stays linear in the source."""

    def __init__(self) -> None:
        super().__init__(errors=[], warnings=[], used_names={})
        self.problems: list[Problem] = []
        # Under ``from __future__ import annotations`` annotations are never evaluated:
        # Python keeps their source text, so they must keep the script's own text too.
        self.postponed_annotations = False
        self.classes: list[str] = []  # enclosing class statements, for name mangling

    def error(self, node: ast.AST, info: str) -> None:
        super().error(node, info)
        line = getattr(node, "lineno", 1) or 1
        col = (getattr(node, "col_offset", 0) or 0) + 1
        self.problems.append(Problem(line, col, info))

    # -- names --------------------------------------------------------------------------

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        """Refuse the sandbox's own names (in any context: reading one is never needed)."""
        if name is None:
            return
        if name in SANDBOX_NAMES:
            self.error(node, f'"{name}" is reserved: {SANDBOX_NAMES[name]}')
        elif TEMPORARY_NAME.fullmatch(name):
            self.error(node, f'"{name}" is reserved for the compiled script\'s temporaries')

    def _check_binding(self, node: ast.AST, name: str) -> None:
        self.check_name(node, name)
        if name in RESERVED_NAMES:
            self.error(node, f'"{name}" cannot be assigned: {RESERVED_NAMES[name]}')

    def check_function_argument_names(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    ) -> None:
        args = node.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                self._check_binding(node, arg.arg)

    def check_import_names(self, node: ast.ImportFrom | ast.Import) -> ast.AST:
        """``*`` imports are refused (they would bind names nobody reviewed)."""
        for alias in node.names:
            if alias.name == "*":
                self.error(node, '"*" imports are not allowed: import the names you use')
            self._check_binding(node, (alias.asname or alias.name).partition(".")[0])
        return self.node_contents_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        """``print(...)`` becomes the chat's print; other names are checked, not rewritten."""
        if isinstance(node.ctx, ast.Load) and node.id == "print":
            self.print_info.print_used = True
            new = ast.Attribute(ast.Name("_print", ast.Load()), "_call_print", ast.Load())
            _locate(new, node)
            return new
        if isinstance(node.ctx, ast.Load):
            self.check_name(node, node.id)
        else:
            self._check_binding(node, node.id)
        return node

    def visit_Global(self, node: ast.Global) -> ast.AST:
        """Allow ``global`` of the script's own names."""
        for name in node.names:
            self._check_binding(node, name)
        return node

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        """Allow ``nonlocal``: it rebinds only the script's own enclosing variables."""
        for name in node.names:
            self._check_binding(node, name)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name is not None:
            self._check_binding(node, node.name)
        return self.node_contents_visit(node)

    # -- attributes and items: linear rewrites ------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        """``a.b`` -> ``_getattr_(a, "b")``; ``a.b = c`` / ``del a.b`` -> ``_write_(a).b``."""
        node.value = self.visit(node.value)
        if isinstance(node.ctx, ast.Load):
            name = ast.Constant(self.mangle(node.attr))
            new = ast.Call(_load("_getattr_"), [node.value, name], [])
            _locate(new, node)
            return new
        if node.attr in UNWRITABLE_ATTRIBUTES:
            self.error(node, f'"{node.attr}" cannot be set: {UNWRITABLE_ATTRIBUTES[node.attr]}')
        node.value = ast.Call(_load("_write_"), [node.value], [])
        _locate(node.value, node)
        return node

    def mangle(self, name: str) -> str:
        """``self.__x`` in class C reads ``_C__x``, as Python's compiler would have made
        it, had the read stayed an attribute."""
        if not self.classes or name[:2] != "__" or name[-2:] == "__" or "." in name:
            return name
        owner = self.classes[-1].lstrip("_")
        return f"_{owner}{name}" if owner else name

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        """``a[b]`` -> ``_getitem_(a, b)``; ``a[b] = c`` / ``del a[b]`` -> ``_write_(a)[b]``."""
        node.value = self.visit(node.value)
        node.slice = self.visit(node.slice)
        if isinstance(node.ctx, ast.Load):
            new = ast.Call(_load("_getitem_"), [node.value, node.slice], [])
            _locate(new, node)
            return new
        node.value = ast.Call(_load("_write_"), [node.value], [])
        _locate(node.value, node)
        return node

    def guard_iter(self, node: ast.For | ast.AsyncFor | ast.comprehension) -> ast.AST:
        """``for x in y`` -> ``for x in _getiter_(y)`` (unpacking targets: checked)."""
        node = self.node_contents_visit(node)
        if isinstance(node.target, ast.Tuple):
            spec = self.gen_unpack_spec(node.target)
            args = [node.iter, spec, _load("_getiter_")]
            new = ast.Call(_load("_iter_unpack_sequence_"), args, [])
        else:
            new = ast.Call(_load("_getiter_"), [node.iter], [])
        _locate(new, node.iter)
        node.iter = new
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST | list[ast.stmt]:
        """Unpacking assignments check the sequence's length, as RestrictedPython's."""
        node = self.node_contents_visit(node)
        if not any(isinstance(target, ast.Tuple) for target in node.targets):
            return node
        statements: list[ast.stmt] = []
        for target in reversed(node.targets):  # Python fills the rightmost target first
            value = (
                self.protect_unpack_sequence(target, node.value)
                if isinstance(target, ast.Tuple)
                else node.value
            )
            statements.append(ast.Assign(targets=[target], value=value))
            _locate(statements[-1], node)
        return statements

    # -- functions ----------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        """Any name but the sandbox's; a chat print bound in each scope that prints."""
        self._check_binding(node, node.name)
        self.check_function_argument_names(node)
        returns, node.returns = node.returns, None
        with self.print_info.new_print_scope():
            node = self.node_contents_visit(node)
            # RestrictedPython types it for def only; it reads the body, as an async def has.
            self.inject_print_collector(node)  # type: ignore[arg-type]
        node.returns = self._annotation(returns)
        return node

    @overload
    def _annotation(self, annotation: ast.expr) -> ast.expr: ...

    @overload
    def _annotation(self, annotation: None) -> None: ...

    def _annotation(self, annotation: ast.expr | None) -> ast.expr | None:
        if annotation is None or self.postponed_annotations:
            return annotation
        visited: ast.expr | None = self.visit(annotation)  # an expression's visitors give one
        return visited

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.annotation = self._annotation(node.annotation)
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        """Coroutines as functions (asyncio and async clients need them; their frames and
        code stay out of reach, guards.py)."""
        return self.visit_FunctionDef(node)

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        """``async for``: ``__aiter__`` is the script's object's or a library's, as for."""
        return self.node_contents_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        return self.node_contents_visit(node)

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        """Keyword arguments of any name: they select parameters, nothing else."""
        return self.node_contents_visit(node)

    # -- imports ------------------------------------------------------------------------

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        """``from __future__`` works as in Python; relative imports have no package."""
        if node.level:
            self.error(node, "relative imports are not available: a script is a single file")
        return self.check_import_names(node)

    def visit_Module(self, node: ast.Module) -> ast.AST:
        """The chat print goes after the docstring and ``from __future__`` imports, which
        must stay first."""
        self.postponed_annotations = any(
            isinstance(statement, ast.ImportFrom)
            and statement.module == "__future__"
            and any(alias.name == "annotations" for alias in statement.names)
            for statement in node.body
        )
        node = self.node_contents_visit(node)
        position = 0
        for position, statement in enumerate(node.body):
            is_docstring = (
                position == 0
                and isinstance(statement, ast.Expr)
                and isinstance(statement.value, ast.Constant)
                and isinstance(statement.value.value, str)
            )
            if not is_docstring and not (
                isinstance(statement, ast.ImportFrom) and statement.module == "__future__"
            ):
                break
        else:
            position = len(node.body)
        self.inject_print_collector(node, position)
        return node

    # -- assignments --------------------------------------------------------------------

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        """Allow ``x: int = 0`` (dataclass fields); targets are guarded like assignments."""
        node.target = self.visit(node.target)
        node.annotation = self._annotation(node.annotation)
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST | list[ast.stmt]:
        """``x += y`` for names (RestrictedPython), attributes and items (added here).

        ``o.a += v`` becomes ``_write_(t).a = _inplacevar_("+=", _getattr_(t, "a"), v)``
        with ``t`` the object evaluated once, so the read, the write and ``__iadd__``
        each go through their guard, as they would one at a time."""
        target = node.target
        if isinstance(target, ast.Name):
            # RestrictedPython types its answer as any visit's; for a name it is a statement.
            return super().visit_AugAssign(node)  # type: ignore[return-value]
        op = ast.Constant(_IOPERATORS[type(node.op)])
        value = self.visit(node.value)
        obj_name = self.gen_tmp_name()
        holders: list[tuple[str, ast.expr]] = [(obj_name, self.visit(target.value))]
        if isinstance(target, ast.Attribute):
            if target.attr in UNWRITABLE_ATTRIBUTES:
                reason = UNWRITABLE_ATTRIBUTES[target.attr]
                self.error(node, f'"{target.attr}" cannot be set: {reason}')
            attr = ast.Constant(self.mangle(target.attr))
            current: ast.expr = _call("_getattr_", _load(obj_name), attr)
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
        self._check_binding(node, node.name)
        for field in ("bases", "keywords", "decorator_list"):  # evaluated outside the class
            setattr(node, field, [self.visit(item) for item in getattr(node, field)])
        self.classes.append(node.name)
        try:
            node.body = [result for stmt in node.body for result in _as_list(self.visit(stmt))]
        finally:
            self.classes.pop()
        if any(keyword.arg == "metaclass" for keyword in node.keywords):
            self.error(node, 'The keyword argument "metaclass" is not allowed.')
        hook = ast.keyword("metaclass", _load("__metaclass__"))
        _locate(hook, node)
        _locate(hook.value, node)
        node.keywords = [*node.keywords, hook]
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


def _as_list(result: ast.AST | list[ast.stmt] | None) -> list[ast.stmt]:
    """What visiting a statement gave, as statements (NodeTransformer's three answers)."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    if not isinstance(result, ast.stmt):
        raise TypeError(f"a statement became {type(result).__name__}")  # never: our visitors
    return [result]


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
