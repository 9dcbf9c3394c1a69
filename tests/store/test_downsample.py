"""The numpy aggregates behind downsampling, on hand-made series."""

import numpy as np

from server.store.downsample import Aggregates, group_points, merge


def test_group_points_min_max_last_per_key() -> None:
    keys = np.array([0, 0, 0, 1, 1], dtype=np.int64)
    steps = np.array([3, 1, 2, 5, 4], dtype=np.int64)
    values = np.array([5.0, -1.0, 9.0, 2.0, 3.0])
    group_keys, agg = group_points(keys, steps, values, steps.astype(float))
    assert group_keys.tolist() == [0, 1] and agg.count.tolist() == [3, 2]
    assert agg.min_step.tolist() == [1, 5] and agg.max_step.tolist() == [2, 4]
    assert agg.last_step.tolist() == [3, 5] and agg.last_value.tolist() == [5.0, 2.0]


def test_merge_keeps_every_bucket_min_max_and_last() -> None:
    steps = np.arange(1, 101, dtype=np.int64)
    values = np.zeros(100)
    values[[16, 57]] = [7.0, -7.0]  # steps 17 and 58
    out_steps, out_values, _ = merge(Aggregates.of_points(steps, values, steps.astype(np.float64)), buckets=4)
    assert len(out_steps) <= 12 and 100 in out_steps.tolist()
    assert dict(zip(out_steps.tolist(), out_values.tolist(), strict=True))[17] == 7.0
    assert dict(zip(out_steps.tolist(), out_values.tolist(), strict=True))[58] == -7.0
    assert out_steps.tolist() == sorted(set(out_steps.tolist()))


def test_merge_of_nothing_is_empty() -> None:
    empty = Aggregates.of_points(np.empty(0, np.int64), np.empty(0), np.empty(0))
    assert [len(a) for a in merge(empty, 10)] == [0, 0, 0]
