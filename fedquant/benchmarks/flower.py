"""``fedquant bench flower``: one FedAvg workload on Flower's simulation engine and on fedquant's vectorised
engine, in one run: milliseconds per round and memory side by side.

Workload: the engine benchmark's (digits, MLP 64-128-128-10, 20 clients, Dirichlet(0.5), one local epoch of
batch 32, lr 0.05, every client every round), unquantized. Flower: ``fedquant.flower.example`` (fedquant's
local SGD inside a Flower ClientApp, FedAvg on the server) on the Ray simulation backend, rounds timed from
``Strategy.start`` (the simulation's start-up excluded); memory is what the driver and every Ray process hold
at the end. fedquant: ``run_fedavg`` with the vectorised engine in a fresh process, its peak resident memory
(:func:`peak_bytes`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fedquant.validation.experiment.config import ExperimentConfig

ROUNDS = 10


def workload() -> ExperimentConfig:
    return ExperimentConfig(dataset="digits", model="mlp", clients=20, participation=1.0, partition="dirichlet:0.5",
                            rounds=ROUNDS, local_epochs=1, lr=0.05, seeds=(0,), schemes=("none",)).checked()


_FEDQUANT = """
import json, sys, time, torch
torch.set_num_threads(1)
from fedquant.benchmarks.flower import peak_bytes, workload
from fedquant.validation.experiment.seed_setup import set_up_seed
from fedquant.validation.training.fedavg import run_fedavg
fed = set_up_seed(workload(), 0).federation
start = time.perf_counter()
out = run_fedavg(fed, scheme="none", rule=None, context=None)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "final_loss": out.rows[-1]["loss_after"], "memory_bytes": peak_bytes()}))
"""


def peak_bytes() -> int:
    """This process's peak resident memory: VmHWM of /proc/self/status (Linux), else ru_maxrss.

    Not ru_maxrss on Linux: a child started by fork/exec inherits its parent's high-water mark there, so
    a fresh process started by this benchmark (whose parent holds Flower and Ray) would report the parent's
    memory (measured: a child of a process holding 1 GiB reports 1 GiB by ru_maxrss, 11 MiB by VmHWM).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def bench_flower() -> dict[str, Any]:
    from fedquant.flower.example import run

    with tempfile.TemporaryDirectory() as tmp:
        flower = run(rounds=ROUNDS, bits=None, out=Path(tmp) / "f.json", config=workload(), wrap=False)
    proc = subprocess.run([sys.executable, "-c", _FEDQUANT], capture_output=True, text=True, check=True,
                          env={"OMP_NUM_THREADS": "1", "PATH": "", **_python_env()})
    ours = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"rounds": ROUNDS,
            "flower": {"ms_per_round": 1e3 * flower["seconds"] / ROUNDS, "memory_bytes": flower["memory_bytes"],
                       "final_loss": flower["final_loss"]},
            "fedquant": {"ms_per_round": 1e3 * ours["seconds"] / ROUNDS, "memory_bytes": ours["memory_bytes"],
                         "final_loss": ours["final_loss"]}}


def _python_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}


def format_bench(r: dict[str, Any]) -> str:
    f, q = r["flower"], r["fedquant"]
    gib = 2**30
    return "\n".join([
        f"flower benchmark: digits MLP, 20 clients, 1 local epoch, {r['rounds']} rounds, unquantized FedAvg",
        f"  Flower simulation (Ray)     {f['ms_per_round']:8.1f} ms/round   {f['memory_bytes'] / gib:5.2f} GiB   "
        f"final loss {f['final_loss']:.4f}",
        f"  fedquant vectorised engine  {q['ms_per_round']:8.1f} ms/round   {q['memory_bytes'] / gib:5.2f} GiB   "
        f"final loss {q['final_loss']:.4f}",
        f"  fedquant is {f['ms_per_round'] / q['ms_per_round']:.1f}× faster per round and holds "
        f"{f['memory_bytes'] / q['memory_bytes']:.1f}× less memory",
    ])
