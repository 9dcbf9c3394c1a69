"""Exports of a trained model: raw weights (safetensors or torch.save), and TorchScript / ONNX programs
with the training split's normalisation folded in as their first step, so they take raw features.

A GAN exports its generator: input (B, latent_dim), output samples in the data's units (the
normalisation is undone as its last step).
"""

import contextlib
import copy
import io
import warnings
from collections.abc import Iterator, Mapping, Sequence

import onnx
import safetensors.torch
import torch
from torch import Tensor, nn

from dl.composites import GAN
from dl.data import normalization_shape
from dl.errors import DLError
from dl.modules import Standardize

Normalization = Mapping[str, Sequence[float]] | None
ONNX_OPSET = 17


def to_safetensors(weights: Mapping[str, Tensor]) -> bytes:
    """A state_dict as safetensors bytes (tied tensors are stored as separate copies)."""
    return safetensors.torch.save(_plain_tensors(weights))


def from_safetensors(data: bytes) -> dict[str, Tensor]:
    return safetensors.torch.load(data)


def to_state_dict_bytes(weights: Mapping[str, Tensor]) -> bytes:
    """A state_dict as torch.save bytes, loadable with torch.load(f, weights_only=True)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in _checked(weights).items()}, buf)
    return buf.getvalue()


def to_torchscript(model: nn.Module, input_shape: Sequence[int], normalization: Normalization) -> bytes:
    program, example = exportable(model, input_shape, normalization)
    try:
        with _tracing():
            traced = torch.jit.trace(program, example)
            buf = io.BytesIO()
            torch.jit.save(traced, buf)
    except (RuntimeError, TypeError, ValueError) as err:
        raise DLError(f"the model cannot be exported to TorchScript: {err}") from err
    return buf.getvalue()


def to_onnx(model: nn.Module, input_shape: Sequence[int], normalization: Normalization) -> bytes:
    """ONNX via the TorchScript-based exporter (dynamo=False: needs no onnxscript); batch dim dynamic."""
    program, example = exportable(model, input_shape, normalization)
    buf = io.BytesIO()
    try:
        with _tracing():
            # the TorchScript-based exporter writes to file objects too; its stub lists paths only
            torch.onnx.export(program, (example,), buf,  # type: ignore[arg-type]
                              dynamo=False, opset_version=ONNX_OPSET,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        onnx.checker.check_model(onnx.load_from_string(buf.getvalue()))
    except (RuntimeError, TypeError, ValueError, onnx.checker.ValidationError) as err:
        raise DLError(f"the model cannot be exported to ONNX: {err}") from err
    return buf.getvalue()


@contextlib.contextmanager
def _tracing() -> Iterator[None]:
    """Tracing conditions: no deprecation noise, and attention's fused fast path off, since it is
    taken only without autograd (the trace check would see two graphs) and ONNX has no such op."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def exportable(model: nn.Module, input_shape: Sequence[int],
               normalization: Normalization) -> tuple[nn.Module, Tensor]:
    """A CPU, eval-mode copy of the model with normalisation folded in, and an example input for it."""
    shape = [int(d) for d in input_shape]
    norm = _standardize(normalization, shape)
    net: nn.Module
    if isinstance(model, GAN):
        net = copy.deepcopy(model.generator).cpu()
        steps = [net] if norm is None else [net, _inverse(norm)]
        example = torch.zeros(2, model.latent_dim)
    else:
        net = copy.deepcopy(model).cpu()
        steps = [net] if norm is None else [norm, net]
        example = torch.zeros(2, *shape)  # zeros: valid token ids for an Embedding too
    return nn.Sequential(*steps).eval(), example


def _standardize(normalization: Normalization, shape: list[int]) -> Standardize | None:
    if normalization is None:
        return None
    target = normalization_shape(shape)
    try:
        mean = torch.tensor(normalization["mean"], dtype=torch.float32).reshape(target)
        std = torch.tensor(normalization["std"], dtype=torch.float32).reshape(target)
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise DLError(f"normalization must hold 'mean' and 'std' lists that fit {target} "
                      f"for input shape {shape}: {err}") from err
    if not bool((std > 0).all()):
        raise DLError("normalization 'std' values must all be positive")
    return Standardize(mean, std)


def _inverse(norm: Standardize) -> Standardize:
    # x * std + mean written as (x - m') / s' with m' = -mean / std and s' = 1 / std
    return Standardize(-norm.mean / norm.std, 1 / norm.std)


def _checked(weights: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    for name, value in weights.items():
        if not isinstance(value, Tensor):
            raise DLError(f"weight {name!r} is a {type(value).__name__}, not a tensor")
    return weights


def _plain_tensors(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    # safetensors refuses tensors that share memory; copies of later sharers keep every key
    out: dict[str, Tensor] = {}
    seen: set[int] = set()
    for name, value in _checked(weights).items():
        t = value.detach().cpu().contiguous()
        ptr = t.untyped_storage().data_ptr()
        out[name] = t.clone() if ptr in seen else t
        seen.add(ptr)
    return out
