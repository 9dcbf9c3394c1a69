"""Model spec (JSON) -> torch.nn.Module. The contract's "Model spec (JSON)" section is authoritative.

A spec is {"layers": [layer, ...]}; a layer is {"type": <name>, ...constructor arguments}. Types are the
allow-list in dl.layers.LAYERS plus the composites Sequential (`layers`), Parallel (`branches`: a list
of layer lists, `merge`: add|mul|concat, optional `dim` for concat, batch dim excluded, default 0)
and Residual (`layers`, added to its input). Beyond torch's own arguments:
- LSTM/GRU/RNN always run batch_first on (sequence, features) and take `output`: "sequence" (default,
  (T, D*H)) or "last" (the top layer's final hidden state of each direction, (D*H,)).
- Bilinear takes one input x and computes Bilinear(x, x).
- Embedding takes token ids stored as floats (cast to integers); num_embeddings is never inferred.
- Reshape (`shape`) and Permute (`dims`) number dims without the batch dim; Flatten/Unflatten keep
  torch's numbering (batch dim included).
- Softmax/LogSoftmax default to dim=-1; LayerNorm's normalized_shape defaults to the last dimension.
- `inplace` is refused (it would corrupt a Residual's input); so is `return_indices` on pools.
A GAN is {"generator": spec, "discriminator": spec, "latent_dim": n}.
"""

import difflib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dl.arguments import MAX_INT, describe, matches, range_problem
from dl.composites import GAN, Model
from dl.errors import DLError, SpecError
from dl.layers import COMPOSITES, LAYERS, MERGES, LayerDef
from dl.shapes import Builder, Shape, dry_run

MAX_DEPTH = 32  # composites inside composites
MAX_LAYERS = 1024  # layers in the whole spec, composites included; bounds the API's dry-run time
Loc = tuple[str | int, ...]
__all__ = ["GAN", "Model", "build_model", "count_parameters", "is_gan", "output_shape", "validate_spec"]


def is_gan(spec: Any) -> bool:
    return isinstance(spec, dict) and ("generator" in spec or "discriminator" in spec)


def validate_spec(spec: Any) -> None:
    """Check a spec's structure (types, argument names, types and ranges); raise SpecError with its loc."""
    walker = _Walker()
    if is_gan(spec):
        _check_keys(spec, (), {"generator", "discriminator", "latent_dim"}, "a GAN spec", required=True)
        latent = spec["latent_dim"]
        if not matches(int, latent) or not 1 <= latent <= MAX_INT:
            raise SpecError(("latent_dim",), f"must be an integer between 1 and {MAX_INT}")
        walker.network(spec["generator"], ("generator",))
        walker.network(spec["discriminator"], ("discriminator",))
    else:
        walker.network(spec, ())


def build_model(spec: dict[str, Any], input_shape: Sequence[int], *,
                device: str | torch.device = "cpu") -> nn.Module:
    """Build a spec for samples of `input_shape` (batch dim excluded); "meta" allocates no weights."""
    validate_spec(spec)
    shape = _input_shape(input_shape)
    builder = Builder(device)
    if is_gan(spec):
        return builder.gan(spec["generator"], spec["discriminator"], spec["latent_dim"], shape)
    model, _ = builder.network(spec, shape, ())
    return model


def output_shape(model: nn.Module, input_shape: Sequence[int]) -> Shape:
    """The model's output shape for one sample (batch dim excluded), from a dry run on "meta"."""
    out = dry_run(model, _input_shape(input_shape))
    if not isinstance(out, torch.Tensor):
        raise DLError(f"the model returns {type(out).__name__}, not a tensor")
    return tuple(out.shape[1:])


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _input_shape(input_shape: Sequence[int]) -> Shape:
    shape = tuple(input_shape)
    if not all(isinstance(d, int) and 1 <= d <= MAX_INT for d in shape):
        raise SpecError(("input_shape",), f"must be a list of positive integers, got {list(shape)}")
    return shape


def _show(value: Any) -> str:
    # never serialise user containers whole: they may be huge or deeply nested
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "an object"
    return repr(value)[:40]


def _check_keys(obj: dict[str, Any], loc: Loc, allowed: set[str], what: str, required: bool = False) -> None:
    for key in obj:
        if key not in allowed:
            raise SpecError((*loc, key), f"is not a key of {what}; it takes {', '.join(sorted(allowed))}")
    for key in sorted(allowed - obj.keys()) if required else ():
        raise SpecError((*loc, key), "is required")


class _Walker:
    """One pass over a spec; counts layers so a huge spec fails fast, bounds nesting before recursing."""

    def __init__(self) -> None:
        self.count = 0

    def network(self, spec: Any, loc: Loc) -> None:
        if not isinstance(spec, dict):
            raise SpecError(loc, "must be an object with a 'layers' list")
        _check_keys(spec, loc, {"layers"}, "a model spec", required=True)
        self.layer_list(spec["layers"], (*loc, "layers"), 0)

    def layer_list(self, layers: Any, loc: Loc, depth: int) -> None:
        if not isinstance(layers, list) or not layers:
            raise SpecError(loc, "must be a non-empty list of layers")
        for i, layer in enumerate(layers):
            self.layer(layer, (*loc, i), depth)

    def layer(self, layer: Any, loc: Loc, depth: int) -> None:
        self.count += 1
        if self.count > MAX_LAYERS:
            raise SpecError(loc, f"the spec has more than {MAX_LAYERS} layers")
        if not isinstance(layer, dict):
            raise SpecError(loc, "must be an object with a 'type'")
        kind = layer.get("type")
        if not isinstance(kind, str):
            raise SpecError((*loc, "type"), "is required: the name of a layer type, e.g. 'Linear'")
        if kind in COMPOSITES:
            self.composite(kind, layer, loc, depth)
        elif kind in LAYERS:
            _check_arguments(kind, LAYERS[kind], layer, loc)
        else:
            close = difflib.get_close_matches(kind, [*LAYERS, *COMPOSITES], n=3)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            raise SpecError((*loc, "type"), f"unknown layer type {_show(kind)}{hint}")

    def composite(self, kind: str, layer: dict[str, Any], loc: Loc, depth: int) -> None:
        if depth >= MAX_DEPTH:
            raise SpecError(loc, f"composites are nested deeper than {MAX_DEPTH} levels")
        if kind != "Parallel":
            _check_keys(layer, loc, {"type", "layers"}, kind, required=True)
            self.layer_list(layer["layers"], (*loc, "layers"), depth + 1)
            return
        _check_keys(layer, loc, {"type", "branches", "merge", "dim"}, kind)
        for key in ("branches", "merge"):
            if key not in layer:
                raise SpecError((*loc, key), f"is required for {kind}")
        if layer["merge"] not in MERGES:
            raise SpecError((*loc, "merge"), f"must be one of {', '.join(MERGES)}, "
                            f"got {_show(layer['merge'])}")
        if "dim" in layer and (not matches(int, layer["dim"]) or abs(layer["dim"]) > 8):
            raise SpecError((*loc, "dim"), "must be an integer dim of the sample (batch dim excluded)")
        branches = layer["branches"]
        if not isinstance(branches, list) or not branches:
            raise SpecError((*loc, "branches"), "must be a non-empty list of layer lists")
        for j, branch in enumerate(branches):
            self.layer_list(branch, (*loc, "branches", j), depth + 1)


def _check_arguments(kind: str, ldef: LayerDef, layer: dict[str, Any], loc: Loc) -> None:
    for key, value in layer.items():
        if key == "type":
            continue
        param = ldef.params.get(key)
        if param is None:
            if key in ldef.fixed and value == ldef.fixed[key]:
                continue
            if key in ldef.fixed:
                raise SpecError((*loc, key), f"is always {ldef.fixed[key]!r} for {kind}")
            takes = f"it takes {', '.join(ldef.params)}" if ldef.params else "it takes no arguments"
            raise SpecError((*loc, key), f"is not an argument of {kind}; {takes}")
        if not matches(param.annotation, value):
            raise SpecError((*loc, key), f"must be {describe(param.annotation)}, got {_show(value)}")
        problem = range_problem(key, value) or _special_problem(kind, key, value)
        if problem:
            raise SpecError((*loc, key), problem)
    for name, param in ldef.params.items():
        if param.required and name not in layer:
            raise SpecError((*loc, name), f"is required for {kind}")


def _special_problem(kind: str, key: str, value: Any) -> str | None:
    if kind == "Reshape" and key == "shape" and (
            not value or any(v == 0 or v < -1 for v in value) or value.count(-1) > 1):
        return "must list positive sizes, with at most one -1 (batch dim excluded)"
    if kind == "Permute" and key == "dims" and sorted(value) != list(range(len(value))):
        return f"must be a permutation of 0..{len(value) - 1} (batch dim excluded), got {value}"
    return None
