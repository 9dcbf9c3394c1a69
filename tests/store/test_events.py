"""The metric event's JSON: the fast formatter must equal what json.dumps of the dicts would give."""

import json
import math

from server.store.events import metric_points_json, to_json


def test_metric_points_json_matches_json_dumps() -> None:
    points = [('quote"name', 1, 0.1, 1.7e9), ("lr", 2, 1e-300, 3.5), ("big", 3, 1e20, -0.0)]
    expected = [{"job_id": 7, "name": n, "step": s, "value": v, "time": t} for n, s, v, t in points]
    assert json.loads(metric_points_json(7, points)) == expected


def test_metric_points_json_writes_non_finite_as_null() -> None:
    parsed = json.loads(metric_points_json(7, [("a", 1, math.inf, 1.0), ("a", 2, 2.0, 2.0)]))
    assert [p["value"] for p in parsed] == [None, 2.0]


def test_to_json_nested_non_finite_becomes_null() -> None:
    assert json.loads(to_json({"summary": {"val_loss": math.nan, "ok": [1.0, -math.inf]}})) == {
        "summary": {"val_loss": None, "ok": [1.0, None]}}
