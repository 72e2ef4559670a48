"""Where a sweep's work units run: serially, on a local process pool, or as Ray tasks.

A unit is one (cell, seed): the pilot, the plan and every missing run of that seed of that cell
(``experiment.runner.run_seed``), so two workers use both cores even when a cell has one seed. Every worker
runs torch with one thread (two 2-thread training processes on 2 cores ran 60× slower than one), and a unit
re-run after a killed worker redoes only the runs its files do not yet hold.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from fedquant.errors import InvalidArgument
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.runner import RUN_THREADS, run_seed

Unit = tuple[ExperimentConfig, str, int]  # the cell's configuration, its folder, a seed
UnitFn = Callable[[ExperimentConfig, str, int], int]  # what a worker does with a unit (a module-level function)
BACKENDS = ("local", "ray")
#: tries of a unit whose worker died before it finished
MAX_ATTEMPTS = 3
#: the Ray release this extra pins: the one Flower 1.42's simulation extra pins, so both install together
RAY_PIN = "ray==2.55.1"


def run_unit(config: ExperimentConfig, out: str, seed: int) -> int:
    """One (cell, seed), one torch thread; returns the seed."""
    run_seed(config, Path(out), seed, threads=RUN_THREADS)
    return seed


def plan_unit(config: ExperimentConfig, out: str, seed: int) -> int:
    """The pilot and plan of one (cell, seed) only: the prediction, written before anything trains."""
    run_seed(config, Path(out), seed, threads=RUN_THREADS, plan_only=True)
    return seed


def _single_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def run_local(units: list[Unit], workers: int, done: Callable[[Unit], None], fn: UnitFn = run_unit) -> None:
    """``workers`` = 1: in this process, one unit after another; else a process pool, each unit retried (up to
    MAX_ATTEMPTS) when its worker dies."""
    if workers <= 1:
        for unit in units:
            fn(*unit)
            done(unit)
        return
    attempts = dict.fromkeys(range(len(units)), 0)
    pending = list(range(len(units)))
    while pending:
        with ProcessPoolExecutor(max_workers=workers, initializer=_single_thread) as pool:
            futures = {pool.submit(fn, *units[i]): i for i in pending}
            finished: set[int] = set()
            try:
                for fut in as_completed(futures):
                    fut.result()
                    finished.add(futures[fut])
                    done(units[futures[fut]])
            except BrokenProcessPool:
                pass
        pending = [i for i in pending if i not in finished]
        for i in pending:
            attempts[i] += 1
            if attempts[i] >= MAX_ATTEMPTS:
                _cfg, out, seed = units[i]
                raise RuntimeError(f"the worker of {out}, seed {seed} died {MAX_ATTEMPTS} times")


def run_ray(units: list[Unit], workers: int, address: str | None, done: Callable[[Unit], None],
            fn: UnitFn = run_unit) -> None:
    """Ray tasks of one CPU each (a local Ray of ``workers`` CPUs without ``address``); Ray retries a task whose
    worker died."""
    try:
        import ray
    except ImportError:
        raise InvalidArgument("backend", f"ray installed for --backend ray: pip install 'fedquant[ray]' ({RAY_PIN})",
                              "ray") from None
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU only: keep Ray's future default, quietly
    started = not ray.is_initialized()
    if started:
        env = {"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=MAX_ATTEMPTS - 1)(fn)
        refs = {task.remote(*unit): unit for unit in units}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            ray.get(ready[0])
            done(refs.pop(ready[0]))
    finally:
        if started:
            ray.shutdown()
