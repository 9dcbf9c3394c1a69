"""Shape propagation: each layer is built on the "meta" device (no memory), its input-dependent sizes
filled from the shape reaching it, and run on an empty meta batch to learn its output shape. A layer
that cannot take its input raises one ShapeError naming its path, its input shape and what it expected.
"""

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from dl.arguments import to_torch
from dl.composites import GAN, Model, Parallel, Residual, Sequential
from dl.errors import ShapeError, SpecError
from dl.layers import LAYERS, LayerDef

Shape = tuple[int, ...]
Loc = tuple[str | int, ...]
_BATCH = 2  # not 1: a batch of one would hide a layer that merges or drops the batch dim


def _path(loc: Loc) -> str:
    return ".".join(map(str, loc))


class Builder:
    """Builds spec networks on `device`, propagating shapes on "meta" layer by layer."""

    def __init__(self, device: str | torch.device) -> None:
        self.device = torch.device(device)

    def network(self, spec: dict[str, Any], shape: Shape, loc: Loc) -> tuple[Model, Shape]:
        mods, out = self.layer_list(spec["layers"], shape, (*loc, "layers"))
        return Model(mods), out

    def gan(self, gen: dict[str, Any], disc: dict[str, Any], latent_dim: int, shape: Shape) -> GAN:
        generator, sample = self.network(gen, (latent_dim,), ("generator",))
        if sample != shape:
            raise ShapeError("generator", (latent_dim,), f"to produce samples shaped like the data, "
                             f"{list(shape)}, but it produces {list(sample)}", ("generator",))
        discriminator, score = self.network(disc, shape, ("discriminator",))
        if score != (1,):
            raise ShapeError("discriminator", shape, f"to produce one logit per sample, [1], "
                             f"but it produces {list(score)}", ("discriminator",))
        return GAN(generator, discriminator, latent_dim)

    def layer_list(self, layers: list[dict[str, Any]], shape: Shape,
                   loc: Loc) -> tuple[list[nn.Module], Shape]:
        mods = []
        for i, layer in enumerate(layers):
            module, shape = self.layer(layer, shape, (*loc, i))
            mods.append(module)
        return mods, shape

    def layer(self, layer: dict[str, Any], shape: Shape, loc: Loc) -> tuple[nn.Module, Shape]:
        kind = layer["type"]
        if kind == "Parallel":
            return self.parallel(layer, shape, loc)
        if kind in ("Sequential", "Residual"):
            mods, out = self.layer_list(layer["layers"], shape, (*loc, "layers"))
            if kind == "Residual" and out != shape:
                raise ShapeError(_path(loc), shape, f"its layers to keep the shape {list(shape)} so the "
                                 f"input can be added back, but they give {list(out)}", loc)
            return (Residual if kind == "Residual" else Sequential)(mods), out
        return self.leaf(LAYERS[kind], layer, shape, loc)

    def parallel(self, layer: dict[str, Any], shape: Shape, loc: Loc) -> tuple[nn.Module, Shape]:
        branches, outs = [], []
        for j, spec in enumerate(layer["branches"]):
            mods, out = self.layer_list(spec, shape, (*loc, "branches", j))
            branches.append(mods)
            outs.append(out)
        merge, dim = layer["merge"], layer.get("dim", 0)
        merged = _merged_shape(outs, merge, dim)
        if merged is None:
            what = f"along dim {dim}" if merge == "concat" else "of equal shape"
            raise ShapeError(_path(loc), shape, f"branch outputs {what} to {merge}, but they give "
                             + ", ".join(str(list(o)) for o in outs), loc)
        return Parallel(branches, merge, dim), merged

    def leaf(self, ldef: LayerDef, layer: dict[str, Any], shape: Shape, loc: Loc) -> tuple[nn.Module, Shape]:
        kind = layer["type"]
        kwargs = _resolve(ldef, layer, shape, loc)
        key = _cache_key(kind, kwargs, shape)
        out = _KNOWN_SHAPES.get(key) if key is not None else None
        if out is None:  # the shape comes from meta before any real memory is allocated
            out = _meta_forward(_construct(ldef, kind, kwargs, torch.device("meta"), loc), shape, loc)
            if len(_KNOWN_SHAPES) >= 4096:
                _KNOWN_SHAPES.clear()
            if key is not None:
                _KNOWN_SHAPES[key] = out
        return _construct(ldef, kind, kwargs, self.device, loc), out


# Meta forwards cost about a millisecond each: repeated blocks and repeated requests
# (submit, then GET /jobs/{id}/model) reuse the output shape of an identical layer and input.
_KNOWN_SHAPES: dict[Any, Shape] = {}


def _cache_key(kind: str, kwargs: dict[str, Any], shape: Shape) -> Any:
    key = (kind, tuple(sorted(kwargs.items())), shape)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _merged_shape(outs: list[Shape], merge: str, dim: int) -> Shape | None:
    first = outs[0]
    if merge != "concat":
        return first if all(o == first for o in outs) else None
    if not -len(first) <= dim < len(first) or any(len(o) != len(first) for o in outs):
        return None
    d = dim % len(first)
    if any(o[:d] + o[d + 1:] != first[:d] + first[d + 1:] for o in outs):
        return None
    return (*first[:d], sum(o[d] for o in outs), *first[d + 1:])


def _resolve(ldef: LayerDef, layer: dict[str, Any], shape: Shape, loc: Loc) -> dict[str, Any]:
    """Constructor kwargs: the spec's, our defaults, fixed ones, and sizes inferred from `shape`."""
    if not shape:
        raise ShapeError(_path(loc), shape, "an input with at least one dimension", loc)
    if ldef.ranks is not None and len(shape) not in ldef.ranks:
        ranks = " or ".join(str(r) for r in ldef.ranks)
        raise ShapeError(_path(loc), shape, f"a {ranks}-dimensional input {ldef.expects} "
                         "(batch dim excluded); reshape it first", loc)
    kwargs = {**ldef.defaults, **{k: to_torch(v) for k, v in layer.items() if k != "type"}, **ldef.fixed}
    for inf in ldef.infer:
        size = inf.size(shape)
        given = kwargs.setdefault(inf.arg, size)
        if inf.check and given != size:
            raise ShapeError(_path(loc), shape, f"{inf.what} {given} ({inf.arg}={given})", loc)
    check = _INPUT_CHECKS.get(layer["type"])
    problem = check(kwargs, shape) if check else None
    if problem:
        raise ShapeError(_path(loc), shape, problem, loc)
    return kwargs


def _reshape_problem(kwargs: dict[str, Any], shape: Shape) -> str | None:
    target, n = kwargs["shape"], math.prod(shape)
    known = math.prod(d for d in target if d != -1)
    fits = n % known == 0 if -1 in target else n == known
    return None if fits else f"{known if -1 not in target else 'a multiple of ' + str(known)} elements " \
                             f"to reshape into {list(target)}, but a sample has {n}"


def _permute_problem(kwargs: dict[str, Any], shape: Shape) -> str | None:
    dims = kwargs["dims"]
    return None if len(dims) == len(shape) else f"{len(dims)} dimensions to permute with dims {list(dims)}"


def _dim_problem(kwargs: dict[str, Any], shape: Shape) -> str | None:
    # meta kernels of softmax do not check dim; torch's dims count the batch dim
    dim, rank = kwargs.get("dim"), len(shape) + 1
    return None if dim is None or -rank <= dim < rank else f"a dim in [{-rank}, {rank - 1}] " \
        f"(batch dim included), got dim={dim}"


_INPUT_CHECKS: dict[str, Callable[[dict[str, Any], Shape], str | None]] = {
    "Reshape": _reshape_problem, "Permute": _permute_problem,
    "Softmax": _dim_problem, "LogSoftmax": _dim_problem,
}


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


def _construct(ldef: LayerDef, kind: str, kwargs: dict[str, Any], device: torch.device,
               loc: Loc) -> nn.Module:
    try:
        with device:
            return ldef.cls(**kwargs)
    except (ValueError, TypeError, RuntimeError, AssertionError) as err:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise SpecError(loc, f"{kind}({args}) cannot be built: {_first_line(err)}") from err


def _meta_forward(module: nn.Module, shape: Shape, loc: Loc) -> Shape:
    x = torch.zeros((_BATCH, *shape), device="meta")
    try:
        with torch.no_grad():
            y = module.eval()(x)
    except (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError, AssertionError) as err:
        raise ShapeError(_path(loc), shape, f"an input it can take (torch: {_first_line(err)})", loc) from err
    if y.dim() == 0 or y.shape[0] != _BATCH:
        raise ShapeError(_path(loc), shape, "to keep the batch dimension first, but it changes it", loc)
    out = tuple(y.shape[1:])
    if 0 in out:
        raise ShapeError(_path(loc), shape, f"a larger input: its output would be empty, {list(out)}", loc)
    return out


def _meta_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Shape-only copies of the model's parameters and buffers: a forward through them allocates nothing."""
    return {name: torch.empty_like(t, device="meta") for name, t in itertools.chain(
        model.named_parameters(remove_duplicate=False), model.named_buffers(remove_duplicate=False))}


def dry_run(model: nn.Module, shape: Shape, batch: int = _BATCH) -> Any:
    """model(zeros(batch, *shape)) in eval mode on "meta" copies of its weights (none allocated); a model
    whose code cannot run on meta (data-dependent Python) runs for real on its own device instead."""
    state = _meta_state(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                return functional_call(model, state, (torch.zeros((batch, *shape), device="meta"),))
            except (RuntimeError, NotImplementedError, ValueError, TypeError):
                device = next(itertools.chain(model.parameters(), model.buffers()), torch.zeros(0)).device
                return model(torch.zeros((batch, *shape), device=device))
    finally:
        model.train(was_training)


def fails_on_one_sample(model: nn.Module, shape: Shape) -> str | None:
    """The path of a layer that cannot train on a batch of one sample (BatchNorm over [N, C] needs two),
    from a training-mode forward on "meta" copies of the weights; None when one sample is fine."""
    state = _meta_state(model)
    entered: list[str] = []
    hooks = [module.register_forward_pre_hook(lambda *_, n=name: entered.append(n))
             for name, module in model.named_modules()]
    was_training = model.training
    model.train()
    try:
        with torch.no_grad():
            functional_call(model, state, (torch.zeros((1, *shape), device="meta"),))
    except ValueError as err:
        return entered[-1] if entered and "more than 1 value per channel" in str(err) else None
    except Exception:  # anything else is for the shape checks and training to report
        return None
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return None
