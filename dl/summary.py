"""What GET /jobs/{id}/model shows: a per-module summary and a data-flow graph of a model.

The summary comes from forward hooks during a dry run on "meta" (no weights allocated). The graph
comes from torch.fx symbolic tracing, with spec leaves (LSTM, Reshape, ...) kept as single nodes;
a model fx cannot trace (data-dependent Python) gets the order its modules ran in instead.
"""

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn

from dl.composites import GAN
from dl.modules import LEAF_CLASSES
from dl.shapes import dry_run

log = logging.getLogger(__name__)
Graph = dict[str, list[dict[str, Any]]]


def describe(model: nn.Module, input_shape: Sequence[int]) -> dict[str, Any]:
    """{"summary": [{"path","type","output_shape","parameters"}], "graph": {"nodes","edges"},
    "parameters": n}. Shapes exclude the batch dim; a GAN runs its generator on (latent_dim,) and
    its discriminator on input_shape, and its graph feeds generator samples to the discriminator."""
    shape = tuple(input_shape)
    runs = _runs(model, shape)
    shapes = _output_shapes(model, runs)
    summary = [{"path": path, "type": type(m).__name__, "output_shape": shapes.get(path),
                "parameters": sum(p.numel() for p in m.parameters())}
               for path, m in model.named_modules() if path and not isinstance(m, nn.ModuleList)]
    graph = _merge_graphs([(prefix, _graph(sub, shapes, prefix, s)) for sub, s, prefix in runs])
    return {"summary": summary, "graph": graph, "parameters": sum(p.numel() for p in model.parameters())}


def add_graph(writer: Any, model: nn.Module, input_shape: Sequence[int]) -> bool:
    """Draw the model in TensorBoard (SummaryWriter.add_graph traces it); False when tracing fails."""
    sub, shape, _ = _runs(model, tuple(input_shape))[0]
    device = next(sub.parameters(), torch.zeros(0)).device
    was_training = sub.training
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit deprecation and tracer notices
            writer.add_graph(sub.eval(), torch.zeros((2, *shape), device=device))
        return True
    except (RuntimeError, TypeError, ValueError) as err:
        log.info("model graph not drawn in TensorBoard: %s", err)
        return False
    finally:
        sub.train(was_training)


def _runs(model: nn.Module, shape: tuple[int, ...]) -> list[tuple[nn.Module, tuple[int, ...], str]]:
    """(module, its input shape, its path prefix) for each separate forward pass to describe."""
    if isinstance(model, GAN):
        return [(model.generator, (model.latent_dim,), "generator"),
                (model.discriminator, shape, "discriminator")]
    return [(model, shape, "")]


def _output_shapes(model: nn.Module, runs: list[tuple[nn.Module, tuple[int, ...], str]]) -> dict[str, Any]:
    shapes: dict[str, Any] = {}

    def hook(path: str) -> Any:
        def record(_m: nn.Module, _args: Any, out: Any) -> None:
            first = out[0] if isinstance(out, tuple | list) and out else out
            if isinstance(first, torch.Tensor):
                shapes[path] = list(first.shape[1:])
        return record

    handles = [m.register_forward_hook(hook(path)) for path, m in model.named_modules() if path]
    try:
        for sub, shape, _ in runs:
            try:
                dry_run(sub, shape)
            except Exception as err:  # user code may fail in any way; the summary then lacks shapes
                log.info("dry run for the model summary failed: %s", err)
    finally:
        for h in handles:
            h.remove()
    return shapes


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LEAF_CLASSES) or super().is_leaf_module(m, qualname)


def _graph(model: nn.Module, shapes: dict[str, Any], prefix: str, shape: tuple[int, ...]) -> Graph:
    try:
        traced = _Tracer().trace(model)
    except Exception as err:  # fx raises many kinds on dynamic Python; the fallback still draws it
        log.info("fx could not trace the model (%s); drawing module order instead", err)
        return _order_graph(model, shape)
    full = prefix + "." if prefix else ""
    nodes, edges = [], []
    for node in traced.nodes:
        nodes.append(_node(node, model, shapes, full))
        edges += [{"source": src.name, "target": node.name} for src in node.all_input_nodes]
    return {"nodes": nodes, "edges": edges}


def _node(node: fx.Node, model: nn.Module, shapes: dict[str, Any], full: str) -> dict[str, Any]:
    if node.op == "call_module":
        path = full + str(node.target)
        kind = type(model.get_submodule(str(node.target))).__name__
        return {"id": node.name, "type": kind, "label": path, "path": path, "output_shape": shapes.get(path)}
    kinds = {"placeholder": "input", "output": "output", "get_attr": "parameter",
             "call_function": "function", "call_method": "method"}
    target = node.target if isinstance(node.target, str) else getattr(
        node.target, "__name__", str(node.target))
    return {"id": node.name, "type": kinds.get(node.op, node.op), "label": str(target)}


def _order_graph(model: nn.Module, shape: tuple[int, ...]) -> Graph:
    order: list[str] = []
    leaves = [(p, m) for p, m in model.named_modules() if p and not any(m.children())]
    handles = [m.register_forward_hook(lambda *_a, p=p: order.append(p)) for p, m in leaves]
    try:
        dry_run(model, shape)
    except Exception as err:  # see _output_shapes
        log.info("dry run for the model graph failed: %s", err)
    finally:
        for h in handles:
            h.remove()
    kinds = dict((p, type(m).__name__) for p, m in leaves)
    ids = ["input", *dict.fromkeys(order), "output"]
    nodes = [{"id": i, "type": kinds.get(i, i), "label": i} for i in ids]
    return {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:], strict=False)]}


def _merge_graphs(parts: list[tuple[str, Graph]]) -> Graph:
    """One graph from several; node ids get their part's prefix, and a GAN's generator output feeds
    its discriminator's input."""
    if len(parts) == 1:
        return parts[0][1]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for prefix, graph in parts:
        nodes += [{**n, "id": f"{prefix}.{n['id']}"} for n in graph["nodes"]]
        edges += [{"source": f"{prefix}.{e['source']}", "target": f"{prefix}.{e['target']}"}
                  for e in graph["edges"]]
    for (a, ga), (b, gb) in zip(parts, parts[1:], strict=False):
        edges.append({"source": f"{a}.{_last_output(ga)}", "target": f"{b}.{_first_input(gb)}"})
    return {"nodes": nodes, "edges": edges}


def _last_output(graph: Graph) -> str:
    return str(graph["nodes"][-1]["id"])


def _first_input(graph: Graph) -> str:
    return str(graph["nodes"][0]["id"])
