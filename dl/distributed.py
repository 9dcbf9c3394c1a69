"""Data-parallel (DDP) training across the ranks of an initialised torch.distributed process group.

Every rank draws the same shuffle permutation and takes its share of each global batch (`batch_size`
stays the global batch). Each rank's loss is weighted by its share, so the gradients that
DistributedDataParallel averages equal the one-process gradient of the whole global batch, also for a
short last batch. Losses, validation sums and stop requests are reduced across ranks, so every rank
takes the same decisions (schedulers, early stopping, stopping) and rank 0 reports global values."""

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from dl.errors import ConfigError


def local_cuda_device() -> torch.device:
    """The GPU of this rank: LOCAL_RANK (as torchrun and the worker set it), else the current one."""
    local = os.environ.get("LOCAL_RANK")
    return torch.device("cuda", int(local) if local is not None else torch.cuda.current_device())


@dataclass
class Dist:
    rank: int
    world: int
    control: Any  # a gloo group for host-side agreement; None: the default group is already gloo

    @classmethod
    def current(cls) -> "Dist | None":
        """The running process group when it has two ranks or more (all ranks must call this)."""
        if not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
            return None
        # NCCL reads tensors on the GPU; a stop flag read there would sync every step with the stream
        control = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
        return cls(rank=dist.get_rank(), world=dist.get_world_size(), control=control)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def check(self, task: str, custom_sampler: bool) -> None:
        """What data-parallel training cannot do beyond dl.config's checks (the model's task)."""
        if task == "gan":
            raise ConfigError(("gpus",), "a GAN trains on one device; set gpus to 1 or null")
        if custom_sampler:
            raise ConfigError(("gpus",), "a caller's sampler cannot be split across ranks")

    # -- sharding -----------------------------------------------------------------------------------
    def local_size(self, global_size: int) -> int:
        """Samples of a global batch this rank trains on (torch.tensor_split's sizes)."""
        return global_size // self.world + (1 if self.rank < global_size % self.world else 0)

    def shard(self, idx: Tensor) -> Tensor:
        """This rank's share of a global batch's indices (possibly empty)."""
        return torch.tensor_split(idx, self.world)[self.rank]

    def train_shard(self, idx: Tensor) -> Tensor:
        """As shard(), but never empty: every rank must run backward for DDP's all-reduce, so a rank
        without samples trains on the batch's first one with weight 0 (see weights())."""
        mine = self.shard(idx)
        return mine if len(mine) else idx[:1]

    def weights(self, global_sizes: list[int]) -> list[float]:
        """Loss weight of each micro-batch of one optimizer step: its share times world over the step's
        samples, so the mean over ranks (DDP's gradient average) is the global sample mean."""
        total = sum(global_sizes)
        return [self.local_size(g) * self.world / total for g in global_sizes]

    # -- agreement ----------------------------------------------------------------------------------
    def mean(self, values: dict[str, Tensor]) -> dict[str, Tensor]:
        """Step values averaged over ranks, in one collective."""
        names = list(values)
        stacked = torch.stack([values[n].detach().float() for n in names])
        dist.all_reduce(stacked)
        stacked /= self.world
        return {n: stacked[i] for i, n in enumerate(names)}

    def sum(self, values: list[float]) -> list[float]:
        """Host-side totals (validation sums) added up over ranks."""
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, group=self.control)
        return [float(v) for v in t.tolist()]

    def agree(self, flag: bool) -> bool:
        """Rank 0's answer on every rank (stop requests come from rank 0's callbacks)."""
        t = torch.tensor([1 if flag else 0], dtype=torch.int32)
        dist.broadcast(t, 0, group=self.control)
        return bool(t.item())

    def sync_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (BatchNorm statistics, what its checkpoint holds) on every rank."""
        for buf in model.buffers():
            dist.broadcast(buf, 0)

    def wrap(self, model: nn.Module, device: torch.device) -> DistributedDataParallel:
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        return DistributedDataParallel(model, device_ids=ids)
