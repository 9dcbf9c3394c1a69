"""Early stopping: whether an epoch's metrics end training (the state lives in the resumable position)."""

from typing import Any


def early_stop_reason(es: dict[str, Any] | None, metrics: dict[str, float],
                      state: dict[str, Any]) -> str | None:
    """Update the early-stopping state with an epoch's metrics; the log line when training should stop."""
    if es is None or es["metric"] not in metrics:
        return None
    value, best = metrics[es["metric"]], state["best"]
    sign = 1.0 if es["mode"] == "min" else -1.0
    if best is None or sign * (best - value) > es["min_delta"]:
        state["best"], state["bad"] = value, 0
        return None
    state["bad"] += 1
    if state["bad"] < max(es["patience"], 1):
        return None
    return f"early stopping: {es['metric']} has not improved for {state['bad']} epochs"
