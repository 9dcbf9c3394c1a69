"""The allow-list of layer types a spec may use, and how each one's input-dependent sizes follow from
its input shape (batch dim excluded). Only the classes named here can ever be built: a spec's `type`
is looked up in LAYERS, never on torch.nn."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from torch import nn

from dl import modules
from dl.arguments import Param, constructor_params

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Infer:
    """An argument that equals a dimension of the input: filled in when omitted, checked when given."""

    arg: str
    size: Callable[[Shape], Any]
    what: str  # the dimension in words, for "expected ..." messages
    check: bool = True


@dataclass(frozen=True)
class LayerDef:
    cls: type[nn.Module]  # what is built; its __init__ signature defines the spec's arguments
    ranks: tuple[int, ...] | None = None  # allowed input ranks (batch excluded); None: any
    expects: str = ""  # the allowed input in words, e.g. "(channels, height, width)"
    infer: tuple[Infer, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)  # always passed, e.g. batch_first=True
    defaults: Mapping[str, Any] = field(default_factory=dict)  # our default where torch's is unhelpful
    overrides: Mapping[str, Any] = field(default_factory=dict)  # narrower annotations than torch's
    hidden: frozenset[str] = frozenset()  # torch arguments a spec may not set, with the reason below

    @cached_property
    def params(self) -> dict[str, Param]:
        params = constructor_params(self.cls, self.overrides)
        inferred = {i.arg for i in self.infer}
        for name in inferred & params.keys():
            params[name] = Param(name, params[name].annotation, required=False)
        return {n: p for n, p in params.items() if n not in self.hidden and n not in self.fixed}


def _last(what: str, arg: str) -> Infer:
    return Infer(arg, lambda s: s[-1], f"a last dimension ({what}) of")


def _channels(arg: str) -> Infer:
    return Infer(arg, lambda s: s[0], "a first dimension (channels) of")


# In-place activations would corrupt a Residual's saved input; return_indices breaks the one-tensor chain.
_NO_INPLACE = frozenset({"inplace"})
_SEQ = "(sequence length, features)"
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "PReLU": nn.PReLU, "ELU": nn.ELU,
    "SiLU": nn.SiLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
}


def _conv(cls: type[nn.Module], rank: int, expects: str) -> LayerDef:
    return LayerDef(cls, (rank,), expects, (_channels("in_channels"),))


def _pool(cls: type[nn.Module], rank: int, expects: str) -> LayerDef:
    return LayerDef(cls, (rank,), expects, hidden=frozenset({"return_indices"}))


def _recurrent(cls: type[nn.Module], overrides: Mapping[str, Any] | None = None) -> LayerDef:
    return LayerDef(cls, (2,), _SEQ, (_last("features", "input_size"),), fixed={"batch_first": True},
                    overrides=overrides or {})


_1D, _2D, _3D = "(channels, length)", "(channels, height, width)", "(channels, depth, height, width)"
LAYERS: dict[str, LayerDef] = {
    "Linear": LayerDef(nn.Linear, None, "(..., features)", (_last("features", "in_features"),)),
    "Bilinear": LayerDef(modules.Bilinear, None, "(..., features)",
                         (_last("features", "in1_features"), _last("features", "in2_features"))),
    "Conv1d": _conv(nn.Conv1d, 2, _1D),
    "Conv2d": _conv(nn.Conv2d, 3, _2D),
    "Conv3d": _conv(nn.Conv3d, 4, _3D),
    "ConvTranspose1d": _conv(nn.ConvTranspose1d, 2, _1D),
    "ConvTranspose2d": _conv(nn.ConvTranspose2d, 3, _2D),
    "BatchNorm1d": LayerDef(nn.BatchNorm1d, (1, 2), "(features,) or (channels, length)",
                            (_channels("num_features"),)),
    "BatchNorm2d": LayerDef(nn.BatchNorm2d, (3,), _2D, (_channels("num_features"),)),
    "LayerNorm": LayerDef(nn.LayerNorm, None, "(..., features)",
                          (Infer("normalized_shape", lambda s: (s[-1],), "trailing dims", check=False),)),
    "GroupNorm": LayerDef(nn.GroupNorm, None, "(channels, ...)", (_channels("num_channels"),)),
    "Dropout": LayerDef(nn.Dropout, hidden=_NO_INPLACE),
    "Dropout2d": LayerDef(nn.Dropout2d, (3,), _2D, hidden=_NO_INPLACE),
    "MaxPool1d": _pool(nn.MaxPool1d, 2, _1D),
    "MaxPool2d": _pool(nn.MaxPool2d, 3, _2D),
    "AvgPool1d": _pool(nn.AvgPool1d, 2, _1D),
    "AvgPool2d": _pool(nn.AvgPool2d, 3, _2D),
    "AdaptiveAvgPool1d": LayerDef(nn.AdaptiveAvgPool1d, (2,), _1D),
    "AdaptiveAvgPool2d": LayerDef(nn.AdaptiveAvgPool2d, (3,), _2D),
    "Flatten": LayerDef(nn.Flatten),
    "Unflatten": LayerDef(nn.Unflatten),
    "Reshape": LayerDef(modules.Reshape),
    "Permute": LayerDef(modules.Permute),
    "Embedding": LayerDef(modules.Embedding, hidden=frozenset({"sparse"})),
    "LSTM": _recurrent(modules.LSTM),
    "GRU": _recurrent(modules.GRU),
    "RNN": _recurrent(modules.RNN, {"nonlinearity": Literal["tanh", "relu"]}),
    "TransformerEncoderLayer": LayerDef(
        nn.TransformerEncoderLayer, (2,), _SEQ, (_last("features", "d_model"),), fixed={"batch_first": True},
        overrides={"activation": Literal["relu", "gelu"]}),
    "Softmax": LayerDef(nn.Softmax, defaults={"dim": -1}),
    "LogSoftmax": LayerDef(nn.LogSoftmax, defaults={"dim": -1}),
    "GELU": LayerDef(nn.GELU, overrides={"approximate": Literal["none", "tanh"]}),
    **{name: LayerDef(cls, hidden=_NO_INPLACE) for name, cls in _ACTIVATIONS.items()},
}

COMPOSITES = frozenset({"Sequential", "Parallel", "Residual"})
MERGES = ("add", "mul", "concat")
