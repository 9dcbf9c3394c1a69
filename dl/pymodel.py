"""User Python model files (workers only, where ALLOW_CODE is true; never in the API process).

A file defines `build_model(input_shape, num_outputs)` returning a torch.nn.Module, or a
torch.nn.Module subclass named `Model` built with no arguments. It runs in a fresh module namespace;
any failure becomes one DLError naming the file's line.
"""

import traceback
import types
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from dl.errors import DLError

FILENAME = "model.py"


def load_python_model(source: str, input_shape: Sequence[int], num_outputs: int) -> nn.Module:
    namespace = _execute(source)
    build = namespace.get("build_model")
    cls = namespace.get("Model")
    if callable(build):
        model = _call(lambda: build(tuple(input_shape), num_outputs), "build_model(input_shape, num_outputs)")
        what = "build_model"
    elif isinstance(cls, type) and issubclass(cls, nn.Module):
        model = _call(cls, "Model()")
        what = "Model()"
    else:
        raise DLError(f"{FILENAME} must define build_model(input_shape, num_outputs) or a "
                      "torch.nn.Module subclass named Model")
    if not isinstance(model, nn.Module):
        raise DLError(f"{what} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _execute(source: str) -> dict[str, Any]:
    try:
        code = compile(source, FILENAME, "exec")
    except SyntaxError as err:
        raise DLError(f"{FILENAME} line {err.lineno}: syntax error: {err.msg}") from err
    except ValueError as err:  # e.g. null bytes in the source
        raise DLError(f"{FILENAME} cannot be compiled: {err}") from err
    module = types.ModuleType("torchyard_user_model")
    module.__file__ = FILENAME
    _call(lambda: exec(code, module.__dict__), f"running {FILENAME}")
    return module.__dict__


def _call(fn: Callable[[], Any], what: str) -> Any:
    # SystemExit too: a stray sys.exit() in user code must not end the worker's task
    try:
        return fn()
    except (Exception, SystemExit) as err:
        raise DLError(f"{what} failed{_where(err)}: {type(err).__name__}: {err}") from err


def _where(err: BaseException) -> str:
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == FILENAME]
    return f" at {FILENAME} line {lines[-1]}" if lines else ""
