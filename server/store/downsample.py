"""Pure numpy helpers for metric series: bucket aggregates (min, max, last) and their merging.

A series is reduced to buckets that each keep their minimum, maximum and last point, so a spike
always survives downsampling. The same aggregates feed the write-time rollup table.
"""

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass
class Aggregates:
    """Columns of bucket aggregates; a raw point is an aggregate of one point."""

    count: Ints
    min_step: Ints
    min_value: Floats
    min_time: Floats
    max_step: Ints
    max_value: Floats
    max_time: Floats
    last_step: Ints
    last_value: Floats
    last_time: Floats

    def __len__(self) -> int:
        return len(self.count)

    @classmethod
    def of_points(cls, steps: Ints, values: Floats, times: Floats) -> "Aggregates":
        ones = np.ones(len(steps), dtype=np.int64)
        return cls(ones, steps, values, times, steps, values, times, steps, values, times)

    @classmethod
    def concat(cls, parts: "list[Aggregates]") -> "Aggregates":
        fields = cls.__dataclass_fields__
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})

    def take(self, idx: Ints) -> "Aggregates":
        return Aggregates(**{f: getattr(self, f)[idx] for f in self.__dataclass_fields__})


def group_points(keys: Ints, steps: Ints, values: Floats, times: Floats) -> tuple[Ints, Aggregates]:
    """Aggregate points by an integer group key; returns (key of each group, aggregates), keys sorted."""
    by_step = np.lexsort((steps, keys))
    sorted_keys = keys[by_step]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    by_value = np.lexsort((values, keys))  # same group order: groups are contiguous in both sorts
    imin, imax, ilast = by_value[starts], by_value[ends - 1], by_step[ends - 1]
    agg = Aggregates(
        (ends - starts).astype(np.int64),
        steps[imin], values[imin], times[imin],
        steps[imax], values[imax], times[imax],
        steps[ilast], values[ilast], times[ilast],
    )
    return sorted_keys[starts], agg


def merge(entries: Aggregates, buckets: int) -> tuple[Ints, Floats, Floats]:
    """Merge consecutive step-ordered aggregates into at most `buckets` groups of equal size.

    Returns the points (steps, values, times) that keep each group's min, max and last, by step.
    """
    n = len(entries)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    size = -(-n // max(1, buckets))
    groups = -(-n // size)
    pad = groups * size - n
    offsets = np.arange(groups) * size
    mins = np.pad(entries.min_value, (0, pad), constant_values=np.inf).reshape(groups, size)
    maxs = np.pad(entries.max_value, (0, pad), constant_values=-np.inf).reshape(groups, size)
    imin = offsets + np.argmin(mins, axis=1)
    imax = offsets + np.argmax(maxs, axis=1)
    ilast = np.minimum(offsets + size - 1, n - 1)
    steps = np.concatenate([entries.min_step[imin], entries.max_step[imax], entries.last_step[ilast]])
    values = np.concatenate([entries.min_value[imin], entries.max_value[imax], entries.last_value[ilast]])
    times = np.concatenate([entries.min_time[imin], entries.max_time[imax], entries.last_time[ilast]])
    steps, first = np.unique(steps, return_index=True)  # a point that is both min and last appears once
    return steps, values[first], times[first]
