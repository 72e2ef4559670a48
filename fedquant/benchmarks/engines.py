"""Benchmark: client updates per second of the vectorised engine beside the loop engine, in one run.

Reference workload (docs/design.md §7): sklearn digits, MLP 64-128-128-10, 20 clients, Dirichlet(0.5)
over labels, 1 local epoch of batch 32, lr 0.05, every client every round. Both engines train the same
clients on the same batches (the plan of local.py) from the same global model; rounds alternate between
the engines so machine noise hits both alike, and the median round time of each is reported. Also run for
the digits CNN, where convolutions leave less to batch.

Beside them, the *dense floor*: the same local steps on the same padded batches (every client's batch of a
step stacked into one batch of a·B samples) through ONE copy of the model with autograd and torch's SGD, i.e.
the same arithmetic with one weight set instead of one per client. No engine that keeps per-client weights
does less work per round, so loop / floor bounds the speed-up any engine can reach with torch's kernels on
this machine, and vectorised / floor is what per-client weights cost.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fedquant.validation.data.datasets import load_dataset
from fedquant.validation.data.partitioning import make_partition
from fedquant.validation.training.engines import make_engine
from fedquant.validation.training.local_sgd import LocalConfig
from fedquant.validation.training.models import build_model


def bench_engines(model: str = "mlp", clients: int = 20, rounds: int = 30, threads: int | None = None,
                  seed: int = 0) -> dict[str, Any]:
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        ds = load_dataset("digits", seed=seed)
        part = make_partition("dirichlet:0.5", ds, clients, seed)
        net = build_model(model, ds, seed=seed)
        x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
        cfg = LocalConfig(lr=0.05, batch_size=32, local_epochs=1)
        w = torch.nn.utils.parameters_to_vector(net.parameters()).detach().clone()
        engines = {name: make_engine(name, net, x, y, part.client_indices, cfg, seed)
                   for name in ("loop", "vectorized")}
        everyone = list(range(clients))
        agree = float((engines["loop"].local_updates(w, everyone, 0)
                       - engines["vectorized"].local_updates(w, everyone, 0)).abs().max())
        vec = engines["vectorized"]

        def floor(round_: int) -> None:
            _dense_round(vec, net, x, y, everyone, round_)

        runs = {**{name: (lambda r, e=e: e.local_updates(w, everyone, r)) for name, e in engines.items()},
                "floor": floor}
        for fn in runs.values():  # warm-up
            fn(1)
        times: dict[str, list[float]] = {n: [] for n in runs}
        for r in range(rounds):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn(r + 2)
                times[name].append(time.perf_counter() - start)
        med = {n: float(np.median(t)) for n, t in times.items()}
        steps = sum(cfg.steps_for(int(n)) for n in part.sizes)
        return {
            "model": model, "clients": clients, "rounds": rounds, "threads": torch.get_num_threads(),
            "local_steps_per_round": steps, "max_abs_update_difference": agree,
            "loop_seconds_per_round": med["loop"], "vectorized_seconds_per_round": med["vectorized"],
            "loop_updates_per_second": clients / med["loop"],
            "vectorized_updates_per_second": clients / med["vectorized"],
            "speedup": med["loop"] / med["vectorized"],
            "floor_seconds_per_round": med["floor"], "speedup_bound": med["loop"] / med["floor"],
            "vectorized_over_floor": med["vectorized"] / med["floor"],
        }
    finally:
        torch.set_num_threads(old)


def _dense_round(engine: Any, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, clients: list[int],
                 round_: int) -> None:
    """The dense floor of one round (module docstring): the engine's batch plan, stacked over clients per step,
    through one model."""
    plans = [engine.plan(c, round_) for c in clients]
    steps = max(len(p) for p in plans)
    B = engine.cfg.batch_size
    model = engine.model
    opt = torch.optim.SGD(model.parameters(), lr=engine.cfg.lr, momentum=engine.cfg.momentum)
    for k in range(steps):
        rows = [np.resize(p[k], B) for p in plans if len(p) > k]  # padded to B, as the vectorised engine pads
        t = torch.from_numpy(np.concatenate(rows))
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[t]), y[t]).backward()
        opt.step()


def format_bench(results: list[dict[str, Any]]) -> str:
    lines = ["engine benchmark: digits, 20 clients, Dirichlet(0.5), 1 epoch, batch 32 (median round time)",
             f"  {'model':<6}{'threads':>8}{'loop ms/round':>15}{'vectorised':>12}{'dense floor':>13}"
             f"{'speed-up':>10}{'bound':>8}{'vect/floor':>12}{'max |Δ|':>10}"]
    for r in results:
        lines.append(f"  {r['model']:<6}{r['threads']:>8}{1e3 * r['loop_seconds_per_round']:>15.2f}"
                     f"{1e3 * r['vectorized_seconds_per_round']:>12.2f}{1e3 * r['floor_seconds_per_round']:>13.2f}"
                     f"{r['speedup']:>9.2f}×{r['speedup_bound']:>7.2f}×{r['vectorized_over_floor']:>11.2f}×"
                     f"{r['max_abs_update_difference']:>10.1e}")
    lines.append("  speed-up = loop / vectorised; bound = loop / dense floor (one model, same arithmetic); "
                 "vect/floor = what per-client weights cost")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_bench([bench_engines("mlp"), bench_engines("cnn", rounds=10)]))
