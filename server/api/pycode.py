"""Python model files in the API process: the ALLOW_CODE gate, and a check that reads the file with
`ast` only (user code is never imported or run here; workers run it)."""

import ast

from fastapi import HTTPException

from server.api.errors import Invalid
from server.core.config import get_settings

ENTRY_POINTS = ("build_model", "Model")
MUST_DEFINE = ("the model file must define build_model(input_shape, num_outputs) or a torch.nn.Module "
               "subclass named Model at its top level")
# Statements whose bodies still run at import time, so a name bound inside them is a module global.
BLOCKS = (ast.If, ast.Try, ast.With)


def require_code_allowed() -> None:
    """403 where this server does not run Python model files."""
    if not get_settings().allow_code:
        raise HTTPException(403, "Python model files are disabled on this server (TORCHYARD_ALLOW_CODE)")


def _bound_names(statements: list[ast.stmt]) -> set[str]:
    """Names a module binds at import time: defs, classes, assignments and imports, also inside
    top-level if/try/with blocks (a worker looks the entry point up in the module's namespace)."""
    names: set[str] = set()
    for stmt in statements:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        elif isinstance(stmt, BLOCKS):
            names |= _bound_names(_children(stmt))
    return names


def _children(block: ast.If | ast.Try | ast.With) -> list[ast.stmt]:
    if isinstance(block, ast.Try):
        return [*block.body, *(s for h in block.handlers for s in h.body), *block.orelse, *block.finalbody]
    return [*block.body, *getattr(block, "orelse", [])]


def check_model_source(data: bytes, filename: str) -> str:
    """The file's text once it parses and defines an entry point; else a 422 naming body.file."""
    try:
        source = data.decode("utf-8")
        tree = ast.parse(source, filename=filename)
    except UnicodeDecodeError as exc:
        raise Invalid(["body", "file"], "the model file is not UTF-8 text") from exc
    except SyntaxError as exc:
        raise Invalid(["body", "file"], f"line {exc.lineno}: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise Invalid(["body", "file"], f"the model file cannot be parsed: {exc}") from exc
    if not _bound_names(tree.body) & set(ENTRY_POINTS):
        raise Invalid(["body", "file"], MUST_DEFINE)
    return source
