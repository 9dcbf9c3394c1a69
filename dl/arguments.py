"""JSON argument checking against a torch.nn constructor's type hints (inspect.signature + typing)."""

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union

import torch

# Biggest integer a spec may carry: bigger is a typo or an attempt to exhaust memory.
MAX_INT = 1 << 24
# Arguments that size something: zero or negative makes no sense.
POSITIVE = frozenset({
    "in_features", "in1_features", "in2_features", "out_features", "in_channels", "out_channels",
    "kernel_size", "stride", "dilation", "groups", "num_features", "num_groups", "num_channels",
    "input_size", "hidden_size", "num_layers", "d_model", "nhead", "dim_feedforward",
    "num_embeddings", "embedding_dim", "num_parameters", "output_size", "unflattened_size",
    "divisor_override", "latent_dim",
})
NON_NEGATIVE = frozenset({"padding", "output_padding", "proj_size"})
PROBABILITIES = frozenset({"p", "dropout", "momentum"})
STRICTLY_POSITIVE_FLOATS = frozenset({"eps", "layer_norm_eps", "norm_type", "max_norm"})
# Constructor arguments no spec may set: placement is the engine's, private ones are torch's.
NEVER = frozenset({"self", "device", "dtype"})


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any
    required: bool


def constructor_params(cls: type, overrides: Mapping[str, Any]) -> dict[str, Param]:
    """Public keyword arguments of cls.__init__ with their type hints (first typed overload if any);
    an __init__ that passes **kwargs on also takes its base class's arguments."""
    params: dict[str, Param] = {}
    for klass in cls.__mro__:
        if klass in (torch.nn.Module, object):
            break
        if "__init__" not in vars(klass):
            continue
        init = _typed_init(klass)
        hints = typing.get_type_hints(init)
        sig = inspect.signature(init).parameters.values()
        for p in sig:
            if p.name in NEVER or p.name.startswith("_") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = overrides.get(p.name, hints.get(p.name, Any))
            params.setdefault(p.name, Param(p.name, ann, p.default is inspect.Parameter.empty))
        if not any(p.kind is p.VAR_KEYWORD for p in sig):
            break
    return params


def _typed_init(cls: type) -> Callable[..., Any]:
    # nn.LSTM & co. declare their real arguments only in typing.overload stubs.
    for fn in typing.get_overloads(vars(cls)["__init__"]):
        kinds = {p.kind for p in inspect.signature(fn).parameters.values()}
        if inspect.Parameter.VAR_POSITIONAL not in kinds:
            return fn
    return vars(cls)["__init__"]  # type: ignore[no-any-return]


def matches(ann: Any, value: Any) -> bool:
    """Whether a JSON value fits the annotation."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is type(None) or ann is None:
        return value is None
    if origin in (Union, types.UnionType):
        return any(matches(a, value) for a in args)
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if ann is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ann is str:
        return isinstance(value, str)
    if ann is torch.Size:
        return matches(list[int], value)
    if origin in (tuple, list):
        return _matches_sequence(args, value)
    return False  # callables, tensors, Any: not expressible in JSON


def _matches_sequence(args: tuple[Any, ...], value: Any) -> bool:
    if not isinstance(value, list) or len(value) > 8:
        return False
    if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
        return all(matches(args[0], v) for v in value)
    return len(value) == len(args) and all(matches(a, v) for a, v in zip(args, value, strict=True))


def describe(ann: Any) -> str:
    """The annotation in words, for error messages."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is type(None) or ann is None:
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(dict.fromkeys(describe(a) for a in args if describe(a)))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if ann is torch.Size:
        return "a list of integers"
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} {_plural(args[0])}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(ann, "")


def _plural(ann: Any) -> str:
    return {int: "integers", float: "numbers"}.get(ann, "values")


def to_torch(value: Any) -> Any:
    """JSON lists become tuples, which every torch constructor takes for sizes."""
    return tuple(value) if isinstance(value, list) else value


def range_problem(name: str, value: Any) -> str | None:
    """Why a well-typed value is still out of range, or None."""
    numbers = value if isinstance(value, list) else [value]
    for v in numbers:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if isinstance(v, int) and abs(v) > MAX_INT:
            return f"{v} is too large (at most {MAX_INT})"
        if name in POSITIVE and v < 1:
            return f"must be at least 1, got {v}"
        if name in NON_NEGATIVE and v < 0:
            return f"must not be negative, got {v}"
        if name in PROBABILITIES and not 0 <= v <= 1:
            return f"must be between 0 and 1, got {v}"
        if name in STRICTLY_POSITIVE_FLOATS and v <= 0:
            return f"must be positive, got {v}"
        if isinstance(v, float) and abs(v) > 1e12:
            return f"{v} is too large"
    return None
