"""describe(): per-module rows, an fx data-flow graph (or module order when fx fails), TensorBoard graph."""

from pathlib import Path
from typing import Any

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor, nn
from torch.utils.tensorboard import SummaryWriter

from dl.spec import build_model
from dl.summary import add_graph, describe

PARALLEL_NET = {"layers": [
    {"type": "Linear", "out_features": 4},
    {"type": "Parallel", "merge": "mul",
     "branches": [[{"type": "Linear", "out_features": 3}], [{"type": "Linear", "out_features": 3}]]},
    {"type": "ReLU"},
    {"type": "Reshape", "shape": [3, 1]},
    {"type": "LSTM", "hidden_size": 2, "output": "last"}]}


def _edges(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in graph["edges"]}


def test_describe_rows_give_paths_types_shapes_and_parameters() -> None:
    info = describe(build_model(PARALLEL_NET, [5]), [5])
    rows = {r["path"]: r for r in info["summary"]}
    assert rows["layers.0"] == {"path": "layers.0", "type": "Linear", "output_shape": [4], "parameters": 24}
    assert rows["layers.1"]["type"] == "Parallel" and rows["layers.1"]["parameters"] == 2 * (4 * 3 + 3)
    assert rows["layers.1.branches.1.0"]["output_shape"] == [3]
    assert rows["layers.3"]["output_shape"] == [3, 1]
    assert rows["layers.4"] == {"path": "layers.4", "type": "LSTM", "output_shape": [2], "parameters": 40}
    assert info["parameters"] == 24 + 30 + 40


def test_describe_graph_follows_data_flow_through_parallel() -> None:
    graph = describe(build_model(PARALLEL_NET, [5]), [5])["graph"]
    by_label = {n["label"]: n["id"] for n in graph["nodes"]}
    first, a, b = by_label["layers.0"], by_label["layers.1.branches.0.0"], by_label["layers.1.branches.1.0"]
    merge = next(n["id"] for n in graph["nodes"] if n["type"] == "function" and n["label"] == "mul")
    assert {(first, a), (first, b), (a, merge), (b, merge), (merge, by_label["layers.2"])} <= _edges(graph)
    lstm = next(n for n in graph["nodes"] if n["label"] == "layers.4")
    assert lstm["type"] == "LSTM" and lstm["output_shape"] == [2]  # a spec leaf stays one node
    assert graph["nodes"][0]["type"] == "input" and graph["nodes"][-1]["type"] == "output"


def test_describe_gan_links_generator_output_to_discriminator() -> None:
    spec = {"latent_dim": 2, "generator": {"layers": [{"type": "Linear", "out_features": 3}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}}
    info = describe(build_model(spec, [3]), [3])
    rows = {r["path"]: r["output_shape"] for r in info["summary"]}
    assert rows["generator.layers.0"] == [3] and rows["discriminator.layers.0"] == [1]
    assert ("generator.output", "discriminator.x") in _edges(info["graph"])
    assert info["parameters"] == (2 * 3 + 3) + (3 + 1)


class DataDependent(nn.Module):
    """fx cannot trace a branch on a tensor's value; describe must still draw it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(2, 2)

    def forward(self, x: Tensor) -> Tensor:
        h = self.a(x)
        return self.b(h) if bool(h.sum() > -1e9) else h


def test_describe_untraceable_model_falls_back_to_call_order() -> None:
    info = describe(DataDependent(), [3])
    graph = info["graph"]
    assert [n["id"] for n in graph["nodes"]] == ["input", "a", "b", "output"]
    assert _edges(graph) == {("input", "a"), ("a", "b"), ("b", "output")}
    assert {r["path"]: r["output_shape"] for r in info["summary"]} == {"a": [2], "b": [2]}


def test_add_graph_writes_the_model_to_tensorboard(tmp_path: Path) -> None:
    model = build_model(PARALLEL_NET, [5])
    writer = SummaryWriter(log_dir=str(tmp_path))
    assert add_graph(writer, model, [5])
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.Tags()["graph"]
    assert model.training  # tracing ran in eval mode and put the mode back
    assert torch.is_tensor(model(torch.randn(2, 5)))
