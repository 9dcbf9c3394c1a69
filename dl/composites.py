"""Container modules a spec builds. Their attribute names mirror the spec's keys, so a module path
("layers.5.branches.1.0") reads the same as the spec location ("layers", 5, "branches", 1, 0)."""

import functools
import operator

import torch
from torch import Tensor, nn


class Model(nn.Module):
    """A spec-built network: spec layer i is `layers.i` (state_dict "layers.0.weight", freeze "layers.0")."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class Sequential(Model):
    """The `Sequential` composite: its layers run in order, at `<path>.layers.i`."""


class Residual(Model):
    """The `Residual` composite: x + layers(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers(x)


class Parallel(nn.Module):
    """The `Parallel` composite: every branch sees the same input; outputs merge by add, mul or concat.
    concat joins along `dim`, counted without the batch dim (default 0: features / channels)."""

    def __init__(self, branches: list[list[nn.Module]], merge: str, dim: int = 0) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*b) for b in branches)
        self.merge = merge
        self.dim = dim + 1 if dim >= 0 else dim  # as a dim of the batched tensor

    def forward(self, x: Tensor) -> Tensor:
        outs = [branch(x) for branch in self.branches]
        if self.merge == "concat":
            return torch.cat(outs, dim=self.dim)
        return functools.reduce(operator.add if self.merge == "add" else operator.mul, outs)

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}"


class GAN(nn.Module):
    """A generator (B, latent_dim) -> samples shaped like the data, and a discriminator
    samples -> (B, 1) logits. forward(z) samples from the generator."""

    def __init__(self, generator: Model, discriminator: Model, latent_dim: int) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim

    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)
