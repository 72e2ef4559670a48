"""A Flower app on digits that trains with fedquant-quantized uplinks, on Flower's simulation engine.

    python -m fedquant.flower.example [--rounds 3] [--clients 4] [--bits 2]

Clients hold fedquant's digits partition (logistic regression, Dirichlet(0.5) labels) and train with
fedquant's local SGD engine; the model travels as one array. The server runs ``QuantizedStrategy`` around
Flower's ``FedAvg`` at a fixed code width, and the clients register ``fedquant_mod``. It prints per round the
level, the formula bits and encoded bytes the clients reported, and the global training loss.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from fedquant.flower.mod import fedquant_mod
from fedquant.flower.strategy import QuantizedStrategy
from fedquant.theory.wire import levels_for_width
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.seed_setup import set_up_seed


def experiment(clients: int) -> ExperimentConfig:
    return ExperimentConfig(dataset="digits", model="logreg", clients=clients, participation=1.0,
                            partition="dirichlet:0.5", rounds=1, local_steps=5, local_epochs=None, lr=0.2,
                            seeds=(0,), schemes=("none",)).checked()


def client_app(config: ExperimentConfig) -> ClientApp:
    app = ClientApp(mods=[fedquant_mod])
    setup = set_up_seed(config, 0)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        i = int(context.node_config["partition-id"])
        t = int(msg.content["config"]["server-round"]) - 1
        w = torch.from_numpy(msg.content["arrays"]["w"].numpy().copy())
        delta = setup.engine.local_updates(w, [i], t)[0]
        obj, idx = setup.objective, setup.objective.client_indices[i]
        with torch.no_grad():  # the client's own mean loss: weighted by num-examples, FedAvg's mean is f(w)
            loss = float(obj._loss(w, obj.x_all[idx], obj.y_all[idx]))
        metrics = MetricRecord({"num-examples": int(setup.sizes[i]), "train_loss": loss})
        return Message(RecordDict({"arrays": ArrayRecord({"w": Array((w + delta).numpy())}), "metrics": metrics}),
                       reply_to=msg)

    return app


def server_app(config: ExperimentConfig, rounds: int, bits: int | None, out: Path, wrap: bool = True) -> ServerApp:
    app = ServerApp()
    clients = config.clients

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        setup = set_up_seed(config, 0)
        fedavg = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=clients,
                        min_available_nodes=clients)
        levels = None if bits is None else [int(levels_for_width(bits))] * rounds
        strategy = QuantizedStrategy(fedavg, levels=levels) if wrap else fedavg
        start = time.perf_counter()
        result = strategy.start(grid=grid, initial_arrays=ArrayRecord({"w": Array(setup.w0.numpy())}),
                                num_rounds=rounds)
        seconds = time.perf_counter() - start
        w = torch.from_numpy(result.arrays["w"].numpy().copy())
        record: dict[str, Any] = {"final_w": w.tolist(), "final_loss": setup.objective.loss(w),
                                  "history": getattr(strategy, "history", []), "seconds": seconds,
                                  "memory_bytes": _memory_now()}
        out.write_text(json.dumps(record))

    return app


def _memory_now() -> int:
    """Resident bytes of this process and every Ray process on the machine (the simulation's workers)."""
    import psutil

    total = psutil.Process().memory_info().rss
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.pid != os.getpid() and any("ray" in part for part in (proc.info["cmdline"] or [])[:2]):
                total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return int(total)


def run(clients: int = 4, rounds: int = 3, bits: int | None = 2, out: Path | None = None,
        wrap: bool = True, config: ExperimentConfig | None = None) -> dict[str, Any]:
    """One simulation; returns the final model, its training loss, the per-round accounting, the wall time of
    the rounds and the memory in use at the end (this process plus the Ray workers)."""
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    path = out or Path("flower_example.json")
    cfg = config or experiment(clients)
    run_simulation(server_app(cfg, rounds, bits, path.resolve(), wrap), client_app(cfg),
                   num_supernodes=cfg.clients, backend_config={"client_resources": {"num_cpus": 1}})
    return json.loads(path.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--bits", type=int, default=2)
    p.add_argument("--out", default="flower_example.json")
    a = p.parse_args()
    r = run(a.clients, a.rounds, a.bits, Path(a.out))
    print(f"fedquant in Flower — digits, logreg, {a.clients} clients, {a.rounds} rounds, {a.bits} bits")
    for h in r["history"]:
        print(f"  round {h['round']}: levels {h['levels']}, {h['clients']} clients, {h['bits']:,} bits (formula), "
              f"{h['bytes']:,} bytes (encoded)")
    print(f"  final training loss {r['final_loss']:.4f}")


if __name__ == "__main__":
    main()
