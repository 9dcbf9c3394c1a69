"""Leaf modules a spec builds beyond plain torch.nn classes.

Subclasses (LSTM, GRU, RNN, Bilinear, Embedding) keep their torch parent's parameter names, so a
state_dict key is "layers.2.weight_ih_l0" exactly as with the torch class; they only adapt forward()
to a one-tensor-in, one-tensor-out chain.
"""

from typing import Any, Literal

import torch
from torch import Tensor, nn

from dl.errors import TrainingError

RecurrentOutput = Literal["last", "sequence"]


def _last_hidden(h: Tensor, num_layers: int, directions: int) -> Tensor:
    # h: (layers * directions, B, H) -> the top layer's final state of each direction, (B, directions * H)
    top = h.reshape(num_layers, directions, h.shape[-2], h.shape[-1])[-1]
    return top.permute(1, 0, 2).reshape(h.shape[-2], directions * h.shape[-1])


class _Recurrent(nn.Module):
    """Mixin for the recurrent layers: output="sequence" -> (B, T, D*H); "last" -> the top layer's final
    hidden state of each direction, (B, D*H) (for one direction this equals the sequence's last step)."""

    num_layers: int
    bidirectional: bool

    def __init__(self, *args: Any, output: RecurrentOutput = "sequence", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output = output

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and _cpu_fp16_autocast():
            # CPU has no fp16 LSTM kernel (oneDNN refuses it): run the recurrence in float32 instead
            with torch.autocast("cpu", enabled=False):
                seq, h = super().forward(x.float())
        else:
            seq, h = super().forward(x)
        if self.output == "sequence":
            return seq
        h = h[0] if isinstance(h, tuple) else h  # LSTM's state is (h, c)
        return _last_hidden(h, self.num_layers, 2 if self.bidirectional else 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, output={self.output!r}"


def _cpu_fp16_autocast() -> bool:
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.float16


class LSTM(_Recurrent, nn.LSTM):  # type: ignore[misc]  # forward takes one tensor, returns one
    """nn.LSTM, batch_first, with the `output` choice."""


class GRU(_Recurrent, nn.GRU):  # type: ignore[misc]
    """nn.GRU, batch_first, with the `output` choice."""


class RNN(_Recurrent, nn.RNN):  # type: ignore[misc]
    """nn.RNN, batch_first, with the `output` choice."""


class Bilinear(nn.Bilinear):
    """nn.Bilinear applied to one input as Bilinear(x, x): second-order feature interactions.
    Written as an einsum (same result as F.bilinear), which ONNX export supports."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        y = torch.einsum("...i,oij,...j->...o", x, self.weight, x)
        return y if self.bias is None else y + self.bias


class Embedding(nn.Embedding):
    """nn.Embedding that takes token ids stored as floats (datasets hold float features); train() leaves
    the inputs of a model that starts with it unstandardised. An out-of-range id is a TrainingError."""

    def forward(self, x: Tensor) -> Tensor:
        ids = x.long()
        try:
            return super().forward(ids)
        except (IndexError, RuntimeError) as err:  # checked only on failure: no host sync per batch
            problem = _bad_token_id(ids, self.num_embeddings)
            if problem is None:
                raise
            raise TrainingError(problem) from err


def _bad_token_id(ids: Tensor, num_embeddings: int) -> str | None:
    """The sentence naming an out-of-range id (the largest if too large, else the most negative)."""
    if ids.numel() == 0:
        return None
    high, low = int(ids.max()), int(ids.min())
    if high >= num_embeddings:
        return (f"Embedding got token id {high} but num_embeddings is {num_embeddings}; "
                f"raise num_embeddings above the largest id")
    if low < 0:
        return (f"Embedding got token id {low} but token ids must be 0 or more "
                f"(num_embeddings is {num_embeddings})")
    return None


def takes_token_ids(model: nn.Module) -> bool:
    """Whether the data enters `model` through an embedding lookup (its first leaf module, in
    registration order): such inputs are token ids, which standardising would corrupt."""
    net = model.get_submodule("discriminator") if hasattr(model, "generator") else model  # GAN: data feeds D
    first = next((m for m in net.modules() if next(m.children(), None) is None), None)
    return isinstance(first, nn.Embedding | nn.EmbeddingBag)


class Reshape(nn.Module):
    """Reshape each sample to `shape` (batch dim excluded; one entry may be -1)."""

    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        # flatten+unflatten keeps the batch size symbolic for tracing and export
        return x.flatten(1).unflatten(1, self.shape)

    def extra_repr(self) -> str:
        return f"shape={list(self.shape)}"


class Permute(nn.Module):
    """Permute each sample's dims (`dims` numbers them without the batch dim)."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: Tensor) -> Tensor:
        return x.permute(0, *(d + 1 for d in self.dims))

    def extra_repr(self) -> str:
        return f"dims={list(self.dims)}"


class Standardize(nn.Module):
    """(x - mean) / std with the training split's statistics, folded into exported models."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


LEAF_CLASSES: tuple[type[nn.Module], ...] = (
    LSTM, GRU, RNN, Bilinear, Embedding, Reshape, Permute, Standardize)
