"""Source code of functions and workflows: fetching `code_src`, decoding `code`/`base64`.

Sources are fetched when the Pulumi program runs (like a data source): `resolve_spec`
returns the spec with the text in `code`, so providers' `check` never touches the
network. `source_origin` keeps where the text came from, which becomes the file name of
error messages, tracebacks and `inspect.getsource`.

`code_src` forms:
- a local path, relative to `base_dir` (the Pulumi program's directory), or `file://`;
- `http://` / `https://` (urllib, `timeout` seconds; HTTPS verified with the system CAs,
  or `SSL_CERT_FILE`);
- `s3://bucket/key` (boto3 with its standard configuration: AWS_* variables, profiles,
  `AWS_ENDPOINT_URL` for S3-compatible stores);
- an archive: `zip+s3://`, `zip+http(s)://`, `zip+file://` or a local path ending in
  `.zip`. Only the handler's module is taken from it (`pkg.mod:fn` -> `pkg/mod.py` or
  `pkg/mod/__init__.py`; a bare `fn` -> the module named like the archive, `src.zip`
  -> `src.py`). Other modules of the archive are not shipped with the step.

`handler` is `function` or `module:function`. Without a module, the module is named
after the file (`src/download.py` -> `download`; `__init__.py` -> its folder), after
`source_origin` for inline text, else `handler`. A name that is not an identifier has
its other characters replaced by `_` (`my-flow.py` -> `my_flow`).
"""

from __future__ import annotations

import ast
import base64 as b64
import binascii
import hashlib
import linecache
import os
import sys
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from dh_kfp_pulumi import redact
from dh_kfp_pulumi.errors import SourceError
from dh_kfp_pulumi.fetch import fetch_code_src, identifier, utf8_text
from dh_kfp_pulumi.specs.fields import HANDLER_RULE, code_src_scheme, parse_handler
from dh_kfp_pulumi.specs.validation import shown

FETCH_TIMEOUT = 30.0  # seconds, for http(s) and S3
INLINE_MODULE = "handler"  # module name of inline code without a known origin

Spec = TypeVar("Spec")


@dataclass(frozen=True)
class LoadedSource:
    """Source text and the names it goes by."""

    text: str
    filename: str  # what messages and tracebacks show: the path or URL as given
    module: str
    function: str


# ---- loading ------------------------------------------------------------------------


def load_source(
    *,
    code_src: str | None = None,
    code: str | None = None,
    base64: str | None = None,
    handler: str,
    base_dir: str | os.PathLike[str] | None = None,
    source_origin: str | None = None,
    timeout: float = FETCH_TIMEOUT,
) -> LoadedSource:
    """The text of exactly one of code_src/code/base64, with its file and handler names."""
    given = [
        n for n, v in (("code_src", code_src), ("code", code), ("base64", base64)) if v is not None
    ]
    if len(given) != 1:
        raise SourceError(
            f"exactly one of code_src, code, base64 is needed; got {', '.join(given) or 'none'}"
        )
    try:
        module, function = parse_handler(handler)
    except (ValueError, AttributeError):
        raise SourceError(f"handler {handler!r}: must be {HANDLER_RULE}") from None

    if code is not None:
        text = code
        filename = source_origin or _inline_name(text)
    elif base64 is not None:
        text = utf8_text(_decode_base64(base64), "base64", base64)
        filename = source_origin or _inline_name(text)
    else:
        assert code_src is not None
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        filename, text, archive_module = fetch_code_src(code_src, module, base, timeout)
        module = module or archive_module
    if module is None:
        module = _module_from_origin(filename) if (code_src or source_origin) else INLINE_MODULE
    return LoadedSource(text=text, filename=filename, module=module, function=function)


def load_spec_source(spec: Any, base_dir: str | os.PathLike[str] | None = None) -> LoadedSource:
    """load_source with the fields of a FunctionSpec or WorkflowSpec."""
    if spec.handler is None:
        raise SourceError(f"{_what(spec)} has no source (kind {spec.kind!r} runs no handler)")
    return load_source(
        code_src=spec.code_src,
        code=spec.code,
        base64=spec.base64,
        handler=spec.handler,
        base_dir=base_dir,
        source_origin=spec.source_origin,
    )


def resolve_spec(spec: Spec, base_dir: str | os.PathLike[str] | None = None) -> Spec:
    """A copy of a Function/Workflow spec with its text in `code` (code_src, base64 cleared).

    `source_origin` becomes the file name the text came from, so later loads of the copy
    give the same LoadedSource (file name, module) as the original. Specs without source
    (container functions) come back as they are.
    """
    if getattr(spec, "handler", None) is None:
        return spec
    loaded = load_spec_source(spec, base_dir)
    data = spec.model_dump()  # type: ignore[attr-defined]
    inline = spec.code_src is None and spec.source_origin is None  # type: ignore[attr-defined]
    # inline text keeps no origin: its name is derived from the text, as before
    data.update(
        code=loaded.text,
        code_src=None,
        base64=None,
        # kept in state and shown in messages: never a URL's credentials
        source_origin=None if inline else redact.url(loaded.filename),
    )
    return type(spec).model_validate(data)  # type: ignore[attr-defined]


def _what(spec: Any) -> str:
    kind = "workflow" if type(spec).__name__.startswith("Workflow") else "function"
    return f"{kind} {getattr(spec, 'name', '?')!r}"


def _inline_name(text: str) -> str:
    """A file name for inline text: unique per content, the same on every machine."""
    return f"<inline {hashlib.sha256(text.encode()).hexdigest()[:12]}>"


def _module_from_origin(origin: str) -> str:
    path = urllib.parse.urlsplit(origin).path if code_src_scheme(origin) else origin
    p = PurePosixPath(path.replace("\\", "/"))
    stem = p.parent.name if p.stem == "__init__" else p.stem
    return identifier(stem) or INLINE_MODULE


def _decode_base64(value: str) -> bytes:
    try:
        return b64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SourceError(f"base64 {shown(value)!r}: not valid base64 ({exc})") from None


# ---- checking and loading handlers ------------------------------------------------------


def parse_source(loaded: LoadedSource) -> ast.Module:
    """The module's syntax tree, or SourceError('file X, line N: ...').

    The tree is also compiled, so errors that only the compiler sees ('return' outside a
    function, a late `from __future__` import) are reported here too.
    """
    return _compile(loaded)[0]


def _compile(loaded: LoadedSource) -> tuple[ast.Module, types.CodeType]:
    try:
        tree = ast.parse(loaded.text, filename=loaded.filename)
        return tree, compile(tree, loaded.filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        text = exc.text
        if text is None and exc.lineno:  # the compiler's errors carry no line text
            lines = loaded.text.splitlines()
            text = lines[exc.lineno - 1] if exc.lineno <= len(lines) else None
        line = f": {text.strip()!r}" if text and text.strip() else ""
        raise SourceError(f"file {loaded.filename}, line {exc.lineno}: {exc.msg}{line}") from None
    except ValueError as exc:  # null bytes
        raise SourceError(f"file {loaded.filename}: not Python source ({exc})") from None


def check_handler_defined(loaded: LoadedSource, tree: ast.Module | None = None) -> ast.FunctionDef:
    """The handler's top-level `def`, found without running the module.

    Step modules may import packages that exist only in the step's image, so they are
    never executed where the build runs. The handler must therefore be a plain top-level
    `def` (also inside a top-level if/try/with): an `async def` would return a coroutine
    nobody awaits, and a name bound otherwise (assignment, import, class) cannot be
    checked to be a function without running the module.
    """
    tree = tree if tree is not None else parse_source(loaded)
    binding: ast.stmt | None = None
    functions: list[str] = []
    for node in _top_level(tree.body):
        names = _bound_names(node)
        if isinstance(node, ast.FunctionDef):
            functions.append(node.name)
        if loaded.function in names:
            binding = node
    where = f"file {loaded.filename}"
    if binding is None:
        known = ", ".join(sorted(set(functions))) or "none"
        raise SourceError(
            f"handler {loaded.function!r}: no top-level function of that name in {where}; "
            f"functions defined there: {known}"
        )
    if isinstance(binding, ast.FunctionDef):
        return binding
    if isinstance(binding, ast.AsyncFunctionDef):
        raise SourceError(
            f"handler {loaded.function!r} ({where}, line {binding.lineno}) is an 'async def'; "
            "steps call their handler synchronously: make it a plain 'def'"
        )
    how = _BINDING_KIND.get(type(binding).__name__, "a statement")
    raise SourceError(
        f"handler {loaded.function!r} ({where}, line {binding.lineno}) is bound by {how}, "
        f"not a 'def'; define it with 'def {loaded.function}(...)'"
    )


_BINDING_KIND = {
    "ClassDef": "a class",
    "Assign": "an assignment",
    "AnnAssign": "an assignment",
    "AugAssign": "an assignment",
    "Import": "an import",
    "ImportFrom": "an import",
    "For": "a for loop",
    "AsyncFor": "a for loop",
    "With": "a with statement",
    "AsyncWith": "a with statement",
}


def _top_level(body: list[ast.stmt]):
    """Module-level statements, looking into top-level if/try/with blocks."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)) or type(node).__name__ == "TryStar":
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(node, block, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                yield from _top_level(handler.body)


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets: list[ast.expr] = []
    if isinstance(node, ast.AnnAssign) and node.value is None:
        return set()  # an annotation alone binds nothing
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        targets = [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def load_handler(loaded: LoadedSource) -> Callable[..., Any]:
    """Execute the module and return its handler (workflow pipeline files only).

    The module runs in a fresh module object, registered in `linecache` under
    `loaded.filename` (so tracebacks and `inspect.getsource` show its lines) and left
    out of `sys.modules` (it is there only while it runs, and only if the name is free,
    for code such as dataclasses that looks itself up).
    """
    _, code = _compile(loaded)
    lines = loaded.text.splitlines(keepends=True)
    linecache.cache[loaded.filename] = (len(loaded.text), None, lines, loaded.filename)
    module = types.ModuleType(loaded.module)
    module.__file__ = loaded.filename
    registered = loaded.module not in sys.modules
    if registered:
        sys.modules[loaded.module] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        line = _failing_line(exc, loaded.filename)
        raise SourceError(
            f"file {loaded.filename}{line}: importing it raised {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if registered and sys.modules.get(loaded.module) is module:
            del sys.modules[loaded.module]
    where = f"file {loaded.filename}"
    if not hasattr(module, loaded.function):
        found = sorted(
            name
            for name, value in vars(module).items()
            if isinstance(value, types.FunctionType) and value.__module__ == loaded.module
        )
        raise SourceError(
            f"handler {loaded.function!r}: not defined in {where}; "
            f"functions defined there: {', '.join(found) or 'none'}"
        )
    handler = getattr(module, loaded.function)
    if not callable(handler):
        raise SourceError(
            f"handler {loaded.function!r} in {where} is not callable (a {type(handler).__name__} value)"
        )
    return handler


def _failing_line(exc: BaseException, filename: str) -> str:
    """', line N' of the deepest frame of the traceback in `filename`."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return f", line {lineno}" if lineno is not None else ""
