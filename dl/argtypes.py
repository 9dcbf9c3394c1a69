"""Type checks of optimizer/loss/scheduler arguments from JSON, read off torch's own signatures.

torch accepts many wrong types silently (`"maximize": "x"` maximises, `"milestones": "x"` never decays),
so each argument is validated against the constructor's annotation (or its default's type) with
pydantic in strict JSON mode before the class is built.
"""

import functools
import inspect
import json
from types import SimpleNamespace
from typing import Any, Literal, Optional, Union

from pydantic import ConfigDict, TypeAdapter, ValidationError

# A tensor argument arrives from JSON as a number or a (nested) list of numbers.
_TENSOR = float | list[float] | list[list[float]]
_NAMES: dict[str, Any] = {
    "Tensor": _TENSOR, "torch": SimpleNamespace(Tensor=_TENSOR), "Iterable": list, "Sequence": list,
    "Literal": Literal, "Optional": Optional, "Union": Union, "None": None,
    "typing": SimpleNamespace(Literal=Literal, Optional=Optional, Union=Union),
    "int": int, "float": float, "bool": bool, "str": str, "list": list, "tuple": tuple,
}
_STRICT = ConfigDict(strict=True)


def _annotation_text(param: inspect.Parameter) -> str | None:
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        default = param.default
        return None if default is None or default is inspect.Parameter.empty else type(default).__name__
    if isinstance(ann, type):
        return ann.__name__
    return ann if isinstance(ann, str) else repr(ann)


@functools.cache
def _adapter(cls: Any, key: str) -> tuple[TypeAdapter[Any], str] | None:
    """The validator for one constructor argument, or None when its annotation is not one we can read."""
    text = _annotation_text(inspect.signature(cls).parameters[key])
    if text is None or text == "tuple":  # a bare tuple default says nothing about its items
        return None
    try:
        # torch's own annotation text (never user input), resolved against the names above only.
        hint = eval(text, {"__builtins__": {}}, _NAMES)  # noqa: S307
        return TypeAdapter(hint, config=_STRICT), _readable(text)
    except Exception:  # an annotation we cannot resolve is checked by constructing the class instead
        return None


def _readable(text: str) -> str:
    """An annotation as users read it: a float-or-tensor argument is a float to them."""
    for tensor_or_float in ("typing.Union[float, torch.Tensor]", "float | torch.Tensor"):
        text = text.replace(tensor_or_float, "float")
    return text


def argument_problem(cls: Any, key: str, value: Any) -> str | None:
    """Why `value` does not fit argument `key` of torch class `cls`, or None when it does."""
    checker = _adapter(cls, key)
    if checker is None:
        return None
    adapter, expected = checker
    try:
        adapter.validate_json(json.dumps(value))
    except ValidationError:
        return f"{expected}, got {json.dumps(value)}"
    return None
