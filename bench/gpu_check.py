"""GPU check: a CNN job through the engine at 32-bit, bf16 and compiled, and as a 2-rank DDP job, each
beside a hand-written torch loop on the same model and data. Prints samples/s and writes
bench/results/gpu_check.json (bench/results/gpu_check_cpu.json with --cpu).

The DDP run uses NCCL with one GPU per rank when the machine has two or more, otherwise two gloo ranks
sharing the one GPU (a check of the code path, not of scaling). Without CUDA the script stops with a
message; --cpu runs the same variants on the CPU with a smaller data set, so the code is exercised.

    python bench/gpu_check.py                 # on a CUDA machine
    python bench/gpu_check.py --cpu           # anywhere (small, slow; figures are not GPU figures)
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from dl.callbacks import Callback, MetricPoint
from dl.config import parse_config
from dl.data import ArrayData, from_arrays
from dl.spec import build_model
from dl.train import train

CNN = {"layers": [
    {"type": "Conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}, {"type": "BatchNorm2d"},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1}, {"type": "BatchNorm2d"},
    {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
    {"type": "Flatten"}, {"type": "Linear", "out_features": 10},
]}
SHAPE, LR, SEED = [3, 32, 32], 1e-3, 0


def images(n: int) -> ArrayData:
    """CIFAR-sized random images whose class is a brightness pattern, so the loss can fall."""
    rng = np.random.default_rng(SEED)
    y = rng.integers(0, 10, size=n)
    x = rng.normal(size=(n, *SHAPE)).astype(np.float32) + y[:, None, None, None].astype(np.float32) / 10
    return from_arrays(x, y.astype(np.int64))


def cnn(device: torch.device | str = "cpu") -> nn.Module:
    torch.manual_seed(SEED)
    return build_model(CNN, SHAPE).to(device)


class Throughput(Callback):
    def __init__(self) -> None:
        self.sps: list[float] = []

    def on_metrics(self, points: list[MetricPoint]) -> None:
        self.sps.extend(p.value for p in points if p.name == "samples_per_s")


def _steady(values: list[float]) -> float:
    """Median without the first epoch (compilation, allocator and cuDNN warm-up)."""
    return float(statistics.median(values[1:] or values))


def engine(data: ArrayData, epochs: int, batch: int, device: str, **options: Any) -> float:
    config = parse_config({"epochs": epochs, "batch_size": batch, "val_fraction": 0, "device": device,
                           "optimizer": {"type": "Adam", "lr": LR}, "checkpoint_every_epochs": None,
                           **options})
    cb = Throughput()
    train(cnn(), data, config, callbacks=cb)
    return _steady(cb.sps)


def hand(data: ArrayData, epochs: int, batch: int, device: str, bf16: bool = False) -> float:
    """The loop a user would write: tensors on the device, shuffled slices, Adam, optional autocast."""
    dev = torch.device(device)
    x, y = data.x.to(dev), data.y.to(dev) if data.y is not None else None
    if y is None:
        raise ValueError("the benchmark data set has labels")
    model, loss_fn = cnn(dev), nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x), device=dev).split(batch):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        rates.append(len(x) / (time.perf_counter() - t0))
    return _steady(rates)


def _rank(rank: int, world: int, backend: str, init: str, out: str, args: dict[str, Any]) -> None:
    """One DDP rank; rank 0 writes the global samples/s its callback saw."""
    if args["device"] == "cuda":
        torch.cuda.set_device(rank % torch.cuda.device_count())
        os.environ["LOCAL_RANK"] = str(rank % torch.cuda.device_count())
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group(backend, init_method=f"file://{init}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(minutes=10))
    try:
        config = parse_config({"epochs": args["epochs"], "batch_size": args["batch"], "val_fraction": 0,
                               "device": args["device"], "gpus": world,
                               "optimizer": {"type": "Adam", "lr": LR}, "checkpoint_every_epochs": None})
        cb = Throughput()
        train(cnn(), images(args["samples"]), config, callbacks=cb)
        if rank == 0:
            Path(out).write_text(json.dumps(cb.sps))
    finally:
        dist.destroy_process_group()


def ddp(epochs: int, batch: int, device: str, samples: int) -> tuple[float, str]:
    gpus = torch.cuda.device_count() if device == "cuda" else 0
    backend = "nccl" if gpus >= 2 else "gloo"
    args = {"epochs": epochs, "batch": batch, "device": device, "samples": samples}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sps.json"
        mp.spawn(_rank, args=(2, backend, str(Path(tmp) / "init"), str(out), args), nprocs=2, join=True)
        sps = json.loads(out.read_text())
    where = f"{backend}, {'one GPU each' if gpus >= 2 else 'sharing one GPU' if gpus else 'CPU'}"
    return _steady(sps), where


def measure(args: argparse.Namespace, device: str) -> dict[str, Any]:
    data = images(args.samples)
    run = {"epochs": args.epochs, "batch": args.batch, "device": device}
    results = {
        "hand loop 32-bit": hand(data, **run),
        "engine 32-bit": engine(data, **run),
        "hand loop bf16": hand(data, **run, bf16=True),
        "engine bf16": engine(data, **run, precision="bf16"),
        "engine compile": engine(data, **run, compile=True),
    }
    ddp_sps, where = ddp(args.epochs, args.batch, device, args.samples)
    results[f"engine DDP 2 ranks ({where})"] = ddp_sps
    return results


def table(results: dict[str, float]) -> str:
    base = results["hand loop 32-bit"]
    lines = [f"{'variant':<44}{'samples/s':>12}{'vs hand 32':>12}"]
    lines += [f"{name:<44}{sps:>12.0f}{sps / base:>12.2f}" for name, sps in results.items()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (no CUDA needed)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 4 on CUDA, 2 with --cpu")
    parser.add_argument("--samples", type=int, default=None, help="default: 50,000 on CUDA, 1,024 with --cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check needs a CUDA GPU and this machine has none (torch.cuda.is_available() is False); "
              "run `python bench/gpu_check.py --cpu` to exercise the same code on the CPU.", file=sys.stderr)
        return 2
    device = "cpu" if args.cpu else "cuda"
    args.epochs = args.epochs or (2 if args.cpu else 4)
    args.samples = args.samples or (1024 if args.cpu else 50_000)
    results = measure(args, device)
    print(table(results))
    name = "gpu_check_cpu.json" if args.cpu else "gpu_check.json"
    out = args.out or Path(__file__).parent / "results" / name
    report = {"benchmark": "gpu_check", "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
              "gpus": torch.cuda.device_count() if device == "cuda" else 0, "model": "CNN 3x32x32 -> 10",
              "samples": args.samples, "epochs": args.epochs, "batch_size": args.batch,
              "torch": torch.__version__,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
              "samples_per_s": results}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
