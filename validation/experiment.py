"""An experiment: every scheme on every seed, with a pilot, a plan, the checks and the files.

Layout of ``out/``:
    config.json                the configuration (a --resume must match it)
    runs/seed<k>/plan.json     pilot, forecasts, budget, calibrated knobs, estimated constants
    runs/seed<k>/<scheme>.json one finished (scheme, seed) run: its round and client rows
    rounds.csv, clients.csv    every run's rows (a valid trace for ``fedquant schedule --trace``)
    summary.json, report.md    per-scheme results averaged over seeds, the four checks
    *.png                      accuracy vs cumulative bits, levels, range, predicted vs measured
Every file is written atomically (a temporary file, then rename), so an interrupted experiment keeps its
finished runs and ``--resume`` redoes only what is missing. Same configuration, same bytes.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedquant.optimizer import read_trace
from fedquant.theory.errors import InvalidArgument

from . import fedavg
from .config import ExperimentConfig
from .estimate import estimate
from .plan import Plan, make_plan
from .refine import refine
from .setup import SeedSetup, build, load_data

FORMAT = 1


@functools.cache
def file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask); mkstemp's own is 0o600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=False, allow_nan=False, default=_default) + "\n"


def _default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def run_file(out: Path, seed: int, scheme: str) -> Path:
    safe = scheme.replace(":", "_").replace("=", "-").replace(",", "+")
    return out / "runs" / f"seed{seed}" / f"{safe}.json"


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
    check_budget(build(config, config.seeds[0]))
    check_out(out)
    existing = out / "config.json"
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
            for path in sorted((out / "runs" / f"seed{seed}").glob("*.json")):
                read_json(out, path)
    elif resume and out.exists() and any(out.iterdir()):
        raise InvalidArgument("resume", "a folder written by fedquant validate (it has no config.json)", str(out))
    if not resume and out.exists() and any(out.iterdir()):
        raise InvalidArgument("out", "an empty or new folder", str(out))


def check_budget(setup: SeedSetup) -> None:
    """The budget pays for one bit per coordinate of every block of every participant in every round: the
    rule ``fedquant schedule`` applies (ScheduleProblem.create), on the experiment's own sizes."""
    from fedquant.optimizer import ScheduleProblem

    from .plan import budget_of, cost_model

    cfg = setup.config
    try:
        ScheduleProblem.create(range_=np.ones((cfg.rounds, setup.spec.per_round, setup.block_sizes.size)),
                               clients=setup.spec.per_round, block_sizes=setup.block_sizes,
                               budget_bits=budget_of(setup), cost=cost_model(cfg.quantizer))
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
    try:
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as err:
        raise InvalidArgument("out", f"a folder fedquant can write to (cannot write in {base}: {err.strerror})",
                              str(out)) from None


def read_json(out: Path, path: Path) -> Any:
    """A file of a finished run; a damaged one is named with what to do about it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        rel = path.relative_to(out)
        fix = ("delete that file and rerun with --resume to redo only that run" if path.name != "config.json"
               else "it cannot be resumed: choose another --out (or delete the folder) and start again")
        raise InvalidArgument("resume", f"an intact experiment folder ({rel} is damaged or truncated: {fix})",
                              str(out)) from None


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
             on_run: Callable[[str, int, float], None] | None = None) -> dict[str, Any]:
    """Pilot, plan and every missing run of one seed; returns the plan record."""
    with torch_threads(threads):
        setup = build(config, seed)
        todo = seed_jobs(config, out, seed)
        pilot = None
        if not config.trace or "none" in todo:
            keep = sorted({0, config.pilot // 2, config.pilot - 1})
            pilot = fedavg.run(scheme="none", seed=seed, spec=setup.spec, engine=setup.engine,
                               objective=setup.objective, w0=setup.w0, sizes=setup.sizes, slices=setup.slices,
                               rule=None, context=None, keep_iterates=keep, rounds=config.pilot)
        plan = make_plan(setup, None if config.trace else pilot)
        constants = estimate(setup.objective, [pilot.iterates[k] for k in sorted(pilot.iterates)] if pilot else
                             [setup.w0], setup.partition.client_indices, config.batch_size, seed)
        record = plan_record(setup, plan, constants.to_json())
        write_atomic(out / "runs" / f"seed{seed}" / "plan.json", dumps(record))
        def run_rule(scheme: str, rule: Any) -> fedavg.RunOutput:
            return fedavg.run(scheme=scheme, seed=seed, spec=setup.spec, engine=setup.engine,
                              objective=setup.objective, w0=setup.w0, sizes=setup.sizes, slices=setup.slices,
                              rule=rule, context=plan.context)

        for scheme in todo:
            start = time.perf_counter()
            res, trials = None, []
            if scheme in plan.knobs and config.calibration_runs > 0:
                knob, planned = plan.knobs[scheme]
                res, trials = refine(knob, planned, plan.budget_bits, config.calibration_runs,
                                     lambda x, s=scheme, k=knob: run_rule(s, k.make(x)))
            if res is None:
                res = run_rule(scheme, None if scheme == "none" else plan.rules[scheme])
            payload = {"format": FORMAT, "scheme": scheme, "seed": seed, "rows": res.rows,
                       "client_rows": res.client_rows, "guard_clipped": res.guard_clipped,
                       "calibration_trials": trials, "seconds": round(time.perf_counter() - start, 3)}
            write_atomic(run_file(out, seed, scheme), dumps(payload))
            if on_run is not None:
                on_run(scheme, seed, payload["seconds"])
        return record


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
        "params": plan.params,
        "round_weights": plan.context.round_weights.tolist(),
        "constants": constants,
    }


def run_experiment(config: ExperimentConfig, out: str | Path, *, resume: bool = False, jobs: int = 1,
                   progress: bool = True) -> dict[str, Any]:
    """Run (or finish) an experiment and write every output; returns the summary."""
    out = Path(out)
    prepare(config, out, resume)
    fresh = not out.exists()
    with locked(out):
        prepare(config, out, resume)  # again under the lock: another run may have started in between
        try:
            return _run_locked(config, out, resume, jobs, progress)
        except InvalidArgument:
            if not resume:  # refused once training had started: leave nothing, so the corrected rerun just works
                _empty(out, remove=fresh)
            raise


def _empty(out: Path, remove: bool) -> None:
    """Delete what a refused new experiment wrote into ``out`` (it was empty or new before the run)."""
    import shutil

    for p in out.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    if remove:
        out.rmdir()


def _run_locked(config: ExperimentConfig, out: Path, resume: bool, jobs: int, progress: bool) -> dict[str, Any]:
    from .report import write_outputs

    write_atomic(out / "config.json", dumps({"format": FORMAT, "config": config.to_json()}))
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
    return write_outputs(config, out)


def _single_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="fedquant validate", unit="run", disable=not enabled or total == 0,
                leave=False, mininterval=0.5, delay=2.0)
