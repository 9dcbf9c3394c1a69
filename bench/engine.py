"""Engine throughput on digits: MLP 64-256-256-10, Adam, batch 64, CPU, 1 and 2 threads.

Compares dl.train (per-step train_loss logging and a callback on) with hand-written loops over
(a) DataLoader(TensorDataset) and (b) shuffled tensor slicing, (c) PyTorch Lightning when importable,
and the engine with compile: true. Every variant reports training samples per second of its training
loop (validation and checkpointing excluded), as the median over repeats; runs are interleaved so
background load hits all variants alike. Prints a table and writes bench/results/engine.json.

    python bench/engine.py                    # 7 repeats, 20 epochs, threads 1 and 2
    python bench/engine.py --repeats 1 --epochs 3 --compile-repeats 1   # quick look
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from dl.callbacks import Callback, MetricPoint
from dl.config import parse_config
from dl.data import ArrayData, apply_normalization, fit_normalization, load_builtin, split_indices
from dl.train import train

BATCH, LR, SEED = 64, 1e-3, 0
Run = Callable[[ArrayData, int], list[float]]  # -> training-loop seconds of each epoch


def mlp() -> nn.Module:
    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


class Counting(Callback):
    """A callback that touches every point, as the worker's would."""

    def __init__(self) -> None:
        self.sps: list[float] = []
        self.points = 0

    def on_metrics(self, points: list[MetricPoint]) -> None:
        self.points += len(points)
        self.sps.extend(p.value for p in points if p.name == "samples_per_s")


def engine(compile_model: bool) -> Run:
    def run(data: ArrayData, epochs: int) -> list[float]:
        cb = Counting()
        config = parse_config({"epochs": epochs, "batch_size": BATCH, "seed": SEED, "compile": compile_model,
                               "optimizer": {"type": "Adam", "lr": LR}, "log_every_steps": 1})
        train(mlp(), data, config, callbacks=cb)
        n_train = len(split_indices(len(data.x), 0.2, SEED)[0])
        return [n_train / sps for sps in cb.sps]
    return run


def _train_split(data: ArrayData) -> tuple[Tensor, Tensor]:
    """The same training split and standardisation the engine uses."""
    idx, _ = split_indices(len(data.x), 0.2, SEED)
    assert data.y is not None  # noqa: S101 - digits has labels
    x = data.x[idx]
    norm = fit_normalization(x, data.info.input_shape)
    return (apply_normalization(x, norm, data.info.input_shape) if norm else x), data.y[idx]


def _step(model: nn.Module, opt: torch.optim.Optimizer, loss_fn: nn.Module, xb: Tensor, yb: Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss_fn(model(xb), yb).backward()
    opt.step()


def hand_dataloader(data: ArrayData, epochs: int) -> list[float]:
    x, y = _train_split(data)
    model, loss_fn = mlp(), nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(SEED))
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for xb, yb in loader:
            _step(model, opt, loss_fn, xb, yb)
        times.append(time.perf_counter() - t0)
    return times


def hand_slicing(data: ArrayData, epochs: int) -> list[float]:
    x, y = _train_split(data)
    model, loss_fn = mlp(), nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), BATCH):
            idx = perm[i:i + BATCH]
            _step(model, opt, loss_fn, x[idx], y[idx])
        times.append(time.perf_counter() - t0)
    return times


def lightning_run(data: ArrayData, epochs: int) -> list[float]:
    import lightning as L

    x, y = _train_split(data)

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.loss_fn = mlp(), nn.CrossEntropyLoss()

        def training_step(self, batch: list[Tensor], _: int) -> Tensor:
            return self.loss_fn(self.net(batch[0]), batch[1])

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=LR)

    class EpochTimer(L.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, *_: Any) -> None:
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, *_: Any) -> None:
            self.times.append(time.perf_counter() - self.t0)

    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, callbacks=[timer],
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    trainer.fit(Module(), loader)
    return timer.times


def variants(with_compile: bool) -> dict[str, Run]:
    runs: dict[str, Run] = {"engine": engine(False), "(a) DataLoader loop": hand_dataloader,
                            "(b) slicing loop": hand_slicing}
    if importlib.util.find_spec("lightning") is not None:
        runs["(c) Lightning"] = lightning_run
    if with_compile:
        runs["engine compile"] = engine(True)
    return runs


def measure(data: ArrayData, epochs: int, repeats: int, compile_repeats: int, threads: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    n_train = len(split_indices(len(data.x), 0.2, SEED)[0])
    overall: dict[str, list[float]] = {}
    steady: dict[str, list[float]] = {}
    for rep in range(repeats):
        for name, run in variants(with_compile=rep < compile_repeats).items():
            times = run(data, epochs)
            overall.setdefault(name, []).append(n_train * len(times) / sum(times))
            steady.setdefault(name, []).append(statistics.median(n_train / t for t in times[1:] or times))
    return {name: {"samples_per_s": statistics.median(v),
                   "steady_samples_per_s": statistics.median(steady[name]), "runs": v}
            for name, v in overall.items()}


def _ratio(by_name: dict[str, Any]) -> float:
    return float(by_name["engine"]["samples_per_s"] / by_name["(b) slicing loop"]["samples_per_s"])


def table(results: dict[int, dict[str, Any]]) -> str:
    lines = [f"{'threads':>7}  {'variant':<22}{'samples/s':>11}{'steady/s':>11}{'vs (b)':>8}"]
    for threads, by_name in results.items():
        base = by_name["(b) slicing loop"]["samples_per_s"]
        for name, r in by_name.items():
            lines.append(f"{threads:>7}  {name:<22}{r['samples_per_s']:>11.0f}"
                         f"{r['steady_samples_per_s']:>11.0f}{r['samples_per_s'] / base:>8.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--compile-repeats", type=int, default=3, help="compiling is slow; fewer repeats")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "engine.json")
    args = parser.parse_args()
    data = load_builtin("digits")
    results = {t: measure(data, args.epochs, args.repeats, args.compile_repeats, t)
               for t in (int(s) for s in args.threads.split(","))}
    print(table(results))
    report = {"benchmark": "engine", "dataset": "digits", "model": "MLP 64-256-256-10", "optimizer": "Adam",
              "batch_size": BATCH, "epochs": args.epochs, "repeats": args.repeats,
              "compile_repeats": args.compile_repeats, "torch": torch.__version__,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "loadavg_at_end": os.getloadavg()},
              "lightning": importlib.util.find_spec("lightning") is not None,
              "results": {str(t): r for t, r in results.items()},
              "engine_vs_slicing": {str(t): _ratio(r) for t, r in results.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
