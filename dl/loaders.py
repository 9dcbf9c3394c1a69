"""Batches of in-memory tensors for one epoch, resumable at any batch of a saved permutation.

The default path indexes device-resident tensors with slices of a shuffled permutation (no per-sample
__getitem__ or collate). The torch DataLoader path serves worker processes, pinned memory, and
library callers with their own sampler or collate_fn."""

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

Batch = tuple[Tensor, Tensor | None]
Shard = Callable[[Tensor], Tensor]  # a global batch's indices -> this rank's (data-parallel training)


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def fits_on_device(tensors: list[Tensor | None], device: torch.device) -> bool:
    """Whole dataset on the GPU when it takes under half of the free memory."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    need = sum(t.numel() * t.element_size() for t in tensors if t is not None)
    return need < free // 2


class TensorBatches:
    def __init__(self, x: Tensor, y: Tensor | None, batch_size: int, drop_last: bool,
                 device: torch.device, shard: Shard | None = None) -> None:
        self.on_device = fits_on_device([x, y], device)
        where = device if self.on_device else torch.device("cpu")
        self.x = x.to(where)
        self.y = None if y is None else y.to(where)
        if not self.on_device and device.type == "cuda":
            # pinned host memory lets the per-batch copies run asynchronously
            self.x = self.x.pin_memory()
            self.y = None if self.y is None else self.y.pin_memory()
        self.device, self.batch_size, self.drop_last = device, batch_size, drop_last
        self.shard = shard
        self.n = len(x)
        self.length = num_batches(self.n, batch_size, drop_last)

    def __len__(self) -> int:
        return self.length

    def epoch(self, perm: Tensor, start: int = 0) -> Iterator[Batch]:
        """Batches start..end of the epoch whose sample order is `perm` (this rank's shares of them)."""
        order = perm.to(self.x.device)
        bs = self.batch_size
        for b in range(start, self.length):
            idx = order[b * bs:(b + 1) * bs]
            if self.shard is not None:
                idx = self.shard(idx)
                if len(idx) == 0:  # a rank's empty share of a short validation batch
                    continue
            xb = self.x[idx]
            yb = None if self.y is None else self.y[idx]
            if not self.on_device:
                xb = xb.to(self.device, non_blocking=True)
                yb = None if yb is None else yb.to(self.device, non_blocking=True)
            yield xb, yb


class LoaderBatches:
    """torch.utils.data.DataLoader over a TensorDataset, honouring the saved permutation."""

    def __init__(self, x: Tensor, y: Tensor | None, batch_size: int, drop_last: bool, device: torch.device,
                 *, num_workers: int = 0, pin_memory: bool = False, sampler: Iterable[int] | None = None,
                 collate_fn: Callable[[list[Any]], Any] | None = None, shard: Shard | None = None) -> None:
        self.dataset = TensorDataset(x) if y is None else TensorDataset(x, y)
        self.device, self.batch_size, self.drop_last = device, batch_size, drop_last
        self.options: dict[str, Any] = {"num_workers": num_workers, "pin_memory": pin_memory,
                                        "collate_fn": collate_fn}
        self.sampler = sampler
        self.shard = shard
        # a caller's sampler decides how many samples an epoch has
        self.n = len(sampler) if isinstance(sampler, Sized) else len(x)
        self.length = num_batches(self.n, batch_size, drop_last)

    def __len__(self) -> int:
        return self.length

    def epoch(self, perm: Tensor, start: int = 0) -> Iterator[Batch]:
        if self.sampler is not None:
            loader = DataLoader(self.dataset, batch_size=self.batch_size, sampler=self.sampler,
                                drop_last=self.drop_last, **self.options)
            batches: Iterator[Any] = itertools.islice(iter(loader), start, None)
        elif self.shard is not None:
            bs = self.batch_size
            shares = [self.shard(perm[b * bs:(b + 1) * bs]).tolist() for b in range(start, self.length)]
            batches = iter(DataLoader(self.dataset, batch_sampler=shares, **self.options))
        else:
            order = perm[start * self.batch_size:].tolist()
            loader = DataLoader(self.dataset, batch_size=self.batch_size, sampler=order,
                                drop_last=self.drop_last, **self.options)
            batches = iter(loader)
        for batch in batches:
            xb = batch[0].to(self.device, non_blocking=True)
            yb = batch[1].to(self.device, non_blocking=True) if len(batch) > 1 else None
            yield xb, yb


def make_batches(x: Tensor, y: Tensor | None, batch_size: int, drop_last: bool, device: torch.device, *,
                 num_workers: int = 0, pin_memory: bool | None = None, sampler: Iterable[int] | None = None,
                 collate_fn: Callable[[list[Any]], Any] | None = None,
                 shard: Shard | None = None) -> TensorBatches | LoaderBatches:
    if num_workers > 0 or pin_memory or sampler is not None or collate_fn is not None:
        return LoaderBatches(x, y, batch_size, drop_last, device, num_workers=num_workers,
                             pin_memory=bool(pin_memory), sampler=sampler, collate_fn=collate_fn, shard=shard)
    return TensorBatches(x, y, batch_size, drop_last, device, shard=shard)
