"""An experiment: every scheme on every seed, with a pilot and a plan, each finished run a file.

The folder's layout is ``fedquant.run_folder``'s (config, one plan per seed, one record per run);
``fedquant.validation.report`` turns the records into tables, checks and figures.
Every file is written atomically (a temporary file, then rename), so an interrupted experiment keeps its
finished runs and ``--resume`` redoes only what is missing. Same configuration, same bytes.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedquant.errors import InvalidArgument
from fedquant.files import dumps, probe_writable, write_atomic
from fedquant.optimizer import ScheduleProblem, read_trace
from fedquant.optimizer.bit_cost import check_budget_floor, cost_model
from fedquant.optimizer.objective import objective
from fedquant.run_folder import FORMAT, config_file, plan_file, read_json, run_file, seed_folder
from fedquant.validation.experiment import criterion
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.estimated_constants import estimate_constants
from fedquant.validation.experiment.plan import Plan, budget_of, make_plan
from fedquant.validation.experiment.seed_setup import SeedSetup, load_data, set_up_seed
from fedquant.validation.experiment.trial_calibration import refine_knob
from fedquant.validation.training import fedavg


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def prepare(config: ExperimentConfig, out: Path, resume: bool) -> None:
    """Check the configuration, the trace, the budget and the output folder before anything is written.

    Everything a run could refuse later is refused here, so a refused run leaves nothing behind and the
    corrected rerun just works.
    """
    config.checked()
    for seed in config.seeds:  # a split the data cannot give (shards:K > classes, more clients than samples)
        load_data(config, seed)
    if config.trace:
        read_trace(config.trace)
    check_budget(set_up_seed(config, config.seeds[0]))
    check_out(out)
    existing = config_file(out)
    if existing.exists():
        saved = read_json(out, existing)
        if not resume:
            raise InvalidArgument("out", "an empty or new folder (it holds an experiment: add --resume to "
                                  "continue it, or choose another --out)", str(out))
        if not isinstance(saved, dict) or saved.get("config") != config.to_json():
            given = saved.get("config", {}) if isinstance(saved, dict) else {}
            diff = sorted(k for k, v in config.to_json().items() if not isinstance(given, dict) or given.get(k) != v)
            raise InvalidArgument("resume", f"the same configuration as the interrupted run (differs in "
                                  f"{', '.join(diff)})", str(out))
        for seed in config.seeds:  # a damaged finished run or plan would be trusted by the resume: refuse it
            for path in sorted(seed_folder(out, seed).glob("*.json")):
                read_json(out, path)
    elif resume and out.exists() and any(out.iterdir()):
        raise InvalidArgument("resume", "a folder written by fedquant validate (it has no config.json)", str(out))
    if not resume and out.exists() and any(out.iterdir()):
        raise InvalidArgument("out", "an empty or new folder", str(out))


def check_budget(setup: SeedSetup) -> None:
    """The budget pays for one bit per coordinate of every block of every participant in every round: the
    rule ``fedquant schedule`` applies (``bit_cost.check_budget_floor``), on the experiment's own sizes."""
    cfg = setup.config
    try:
        check_budget_floor(ScheduleProblem.create(
            range_=np.ones((cfg.rounds, setup.spec.per_round, setup.block_sizes.size)),
            clients=setup.spec.per_round, block_sizes=setup.block_sizes, budget_bits=budget_of(setup),
            cost=cost_model(cfg.quantizer)))
    except InvalidArgument as err:
        raise InvalidArgument("budget", err.allowed + " over the run", cfg.budget) from None


def check_out(out: Path) -> None:
    """``out`` names a folder that is (or can be made) writable; a probe file is made and removed at once."""
    if str(out).strip() in ("", "."):
        raise InvalidArgument("out", "a folder name (the current directory is not an output folder)", str(out))
    if out.exists() and not out.is_dir():
        raise InvalidArgument("out", "a folder (or a path where one can be made)", str(out))
    base = out
    while not base.exists():
        if base.parent == base:
            break
        base = base.parent
    if not base.is_dir():
        raise InvalidArgument("out", f"a path inside a folder ({base} is a file)", str(out))
    reason = probe_writable(base)
    if reason is not None:
        raise InvalidArgument("out", f"a folder fedquant can write to (cannot write in {base}: {reason})", str(out))


@contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder itself while an experiment writes there (no lock file is left
    behind); a second writer on the same folder is refused at once."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidArgument("out", "a folder no other fedquant validate is writing to (another process "
                                  "holds its lock; wait for it to finish)", str(out)) from None
        yield
    finally:
        os.close(fd)


def seed_jobs(config: ExperimentConfig, out: Path, seed: int) -> list[str]:
    return [s for s in config.schemes if not run_file(out, seed, s).exists()]


#: torch threads of every run: results depend on the thread count (summation order), so it is fixed; seeds
#: run in parallel processes instead (``jobs``), one thread each, which also uses a 2-core machine best
RUN_THREADS = 1


def run_seed(config: ExperimentConfig, out: Path, seed: int, threads: int | None = RUN_THREADS,
             on_run: Callable[[str, int, float], None] | None = None, plan_only: bool = False) -> dict[str, Any]:
    """Pilot, plan and every missing run of one seed; returns the plan record. ``plan_only``: stop once the
    plan (the prediction, from the pilot alone) is written; a later full call recomputes the same plan."""
    with torch_threads(threads):
        setup = set_up_seed(config, seed)
        todo = seed_jobs(config, out, seed)
        pilot = None
        keep = sorted({0, config.pilot // 2, config.pilot - 1})  # the iterates the constants are estimated at
        if not config.trace or "none" in todo:
            # every iterate when the criterion may need them (the persistence probes, criterion.py)
            kept = range(config.pilot) if config.criterion in ("auto", "final") else keep
            pilot = fedavg.run_fedavg(setup.federation, scheme="none", rule=None, context=None, keep_iterates=kept,
                                      rounds=config.pilot)
        chosen = criterion.resolve(setup, pilot, budget_of(setup))
        plan = make_plan(setup, None if config.trace else pilot, chosen)
        iterates = [pilot.iterates[k] for k in keep] if pilot else [setup.w0]
        constants = estimate_constants(setup.objective, iterates, setup.partition.client_indices, config.batch_size,
                                       seed)
        record = plan_record(setup, plan, constants.to_json())
        record["criterion"] = chosen.to_json(config.rounds)
        if chosen.name == "final" and chosen.measured is not None:
            record["predicted_sd"] = predicted_spread(plan, chosen.measured.variance_weights(config.rounds))
        write_atomic(plan_file(out, seed), dumps(record))
        if plan_only:
            return record
        def run_rule(scheme: str, rule: Any, measure: bool = True) -> fedavg.RunOutput:
            return fedavg.run_fedavg(setup.federation, scheme=scheme, rule=rule, context=plan.context,
                                     measure=measure)

        for scheme in todo:
            start = time.perf_counter()
            res, trials = None, []
            if scheme in plan.knobs and config.calibration_runs > 0:
                knob, planned = plan.knobs[scheme]
                res, trials = refine_knob(knob, planned, plan.budget_bits, config.calibration_runs,
                                          lambda x, s=scheme, k=knob: run_rule(s, k.make(x), measure=False))
                if res is not None:  # the kept trial again, measured: the same training, so the same bits
                    kept = max((t for t in trials if t["fits"]), key=lambda t: t["bits"])
                    res = run_rule(scheme, knob.make(kept["value"]))
                    if float(sum(r["bits"] for r in res.rows)) != kept["bits"]:
                        raise RuntimeError(f"{scheme}: the measured rerun of the kept calibration trial spent "
                                           "other bits than the trial (training is not deterministic)")
            if res is None:
                res = run_rule(scheme, None if scheme == "none" else plan.rules[scheme])
            payload = {"format": FORMAT, "scheme": scheme, "seed": seed, "rows": res.rows,
                       "client_rows": res.client_rows, "guard_clipped": res.guard_clipped,
                       "calibration_trials": trials, "seconds": round(time.perf_counter() - start, 3)}
            bad = non_finite(res.rows) or non_finite(res.client_rows)
            if bad is not None:  # a finite loss, but some other number of the run (a test loss, an excess) is not
                raise InvalidArgument("lr", f"a step size at which training stays finite (the {scheme} run of seed "
                                      f"{seed} diverged by round {bad[0]}: non-finite {bad[1]})")
            write_atomic(run_file(out, seed, scheme), dumps(payload))
            if on_run is not None:
                on_run(scheme, seed, payload["seconds"])
        return record


def non_finite(rows: list[dict[str, Any]]) -> tuple[int, str] | None:
    """(round, column) of the first NaN or ±inf among the rows' float values, or None."""
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float | np.floating) and not np.isfinite(value):
                return int(row.get("round", -1)), key
    return None


def predicted_spread(plan: Plan, variance_weights: np.ndarray) -> dict[str, float]:
    """sd(s) = (Σ_t β_t V_t(s))^½ per scheme on the plan's schedules: the spread its noise adds to the final loss."""
    problem = replace(plan.problem, round_weights=variance_weights)
    return {s: float(np.sqrt(objective(problem, sch.levels))) for s, sch in plan.schedules.items()}


def plan_record(setup: SeedSetup, plan: Plan, constants: dict[str, float]) -> dict[str, Any]:
    return {
        "seed": setup.seed,
        "d": setup.d,
        "block_sizes": setup.block_sizes.tolist(),
        "participants_per_round": setup.spec.per_round,
        "max_local_steps": setup.max_local_steps,
        "client_sizes": setup.sizes.astype(int).tolist(),
        "partition_report": setup.partition.report(setup.dataset.y_train),
        "budget_bits": plan.budget_bits,
        "pilot_rounds": plan.pilot_rounds,
        "pilot_bits": plan.pilot_bits,
        "forecasts": plan.forecasts,
        "predicted_objective": {s: sch.objective for s, sch in plan.schedules.items()},
        "planned_bits": {s: sch.total_bits for s, sch in plan.schedules.items()},
        "planned_round_bits": {s: sch.round_bits.tolist() for s, sch in plan.schedules.items()},
        "params": plan.params,
        "round_weights": plan.context.round_weights.tolist(),
        "constants": constants,
    }


def run_seeds(config: ExperimentConfig, out: Path, jobs: int = 1, progress: bool = True) -> None:
    """Write the configuration, then every missing run of every seed (seeds in ``jobs`` processes)."""
    write_atomic(config_file(out), dumps({"format": FORMAT, "config": config.to_json()}))
    total = sum(len(seed_jobs(config, out, s)) for s in config.seeds)
    bar = _progress(total, progress)
    try:
        if jobs <= 1 or len(config.seeds) == 1:
            for seed in config.seeds:
                run_seed(config, out, seed, on_run=lambda s, k, sec: bar.update(1))
        else:
            counts = {seed: len(seed_jobs(config, out, seed)) for seed in config.seeds}
            with ProcessPoolExecutor(max_workers=jobs, initializer=_single_thread) as pool:
                futures = {pool.submit(run_seed, config, out, seed): counts[seed] for seed in config.seeds}
                for fut in as_completed(futures):
                    fut.result()
                    bar.update(futures[fut])
    finally:
        bar.close()


def _single_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="fedquant validate", unit="run", disable=not enabled or total == 0,
                leave=False, mininterval=0.5, delay=2.0)
