"""Benchmark: where the wall time of a whole ``fedquant validate`` goes, and the notebooks' wall time.

The job is the default demo (``fedquant validate`` with no flags: the preset ``demo``, five seeds), run in this
process with one worker so that every part can be timed, and again with two workers (its wall time only). Time
is attributed to the innermost of these activities that is running (exclusive time, so nothing counts twice):

- training: the engine's local SGD (``Engine.local_updates``);
- quantize + encode: each client's uplink (``uplink.send``: quantizer, codec, measured error);
- loss evaluations: f, ∇f, test accuracy (``GlobalLoss``), what every round and the sharp estimate read;
- sharp estimate: its own quantizer draws (``curvature.predicted_excess`` minus the evaluations inside it);
- other: everything else (data, planning, constants, Python between the calls);

and, separately, to the phase it belongs to: the pilot with its persistence probes, the calibration trial runs
(``refine_knob``), the measured runs, and the report (``write_outputs``: summary, report.md, plots). With
``notebooks`` the notebook suite is also run (``pytest --nbmake notebooks``, a subprocess) and timed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ACTIVITIES = ("training", "quantize + encode", "loss evaluations", "sharp estimate", "other")
PHASES = ("pilot + probes", "calibration trials", "measured runs", "report", "setup + planning")


class _Clock:
    """Exclusive time per activity and per (phase, activity): a stack of what is running."""

    def __init__(self) -> None:
        self.activity: list[str] = ["other"]
        self.phase: list[str] = ["setup + planning"]
        self.totals: dict[tuple[str, str], float] = {}
        self.last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        key = (self.phase[-1], self.activity[-1])
        self.totals[key] = self.totals.get(key, 0.0) + now - self.last
        self.last = now

    @contextmanager
    def within(self, stack: list[str], name: str) -> Iterator[None]:
        self._tick()
        stack.append(name)
        try:
            yield
        finally:
            self._tick()
            stack.pop()


def _wrap(owner: Any, attr: str, clock: _Clock, stack: list[str], name: str | Callable[..., str]) -> Callable[[], None]:
    original = getattr(owner, attr)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        label = name(*args, **kwargs) if callable(name) else name
        if label is None:
            return original(*args, **kwargs)
        with clock.within(stack, label):
            return original(*args, **kwargs)

    setattr(owner, attr, wrapped)
    return lambda: setattr(owner, attr, original)


def _instrumented_run(config: Any, out: Path) -> tuple[float, _Clock]:
    from fedquant.validation import validate
    from fedquant.validation.experiment import criterion, runner
    from fedquant.validation.training import curvature, engines, fedavg, global_loss

    clock = _Clock()

    def run_phase(*args: Any, **kwargs: Any) -> str | None:
        if clock.phase[-1] == "calibration trials":
            return None
        pilot = bool(kwargs.get("keep_iterates")) or kwargs.get("inject") is not None
        return "pilot + probes" if pilot else "measured runs"

    undo = [
        _wrap(engines.VectorizedEngine, "local_updates", clock, clock.activity, "training"),
        _wrap(engines.LoopEngine, "local_updates", clock, clock.activity, "training"),
        _wrap(fedavg, "send", clock, clock.activity, "quantize + encode"),
        _wrap(fedavg, "predicted_excess", clock, clock.activity, "sharp estimate"),
        *[_wrap(global_loss.GlobalLoss, m, clock, clock.activity, "loss evaluations")
          for m in ("loss", "loss_and_grad", "test", "hvp")],
        _wrap(fedavg, "run_fedavg", clock, clock.phase, run_phase),
        _wrap(criterion.persistence, "measure", clock, clock.phase, "pilot + probes"),
        _wrap(runner, "refine_knob", clock, clock.phase, "calibration trials"),
        _wrap(validate, "write_outputs", clock, clock.phase, "report"),
    ]
    _ = curvature  # its module is patched through fedavg's reference
    try:
        start = time.perf_counter()
        clock.last = start
        validate.run_experiment(config, out, jobs=1, progress=False)
        clock._tick()
        return time.perf_counter() - start, clock
    finally:
        for u in reversed(undo):
            u()


def bench_job(notebooks: bool = False) -> dict[str, Any]:
    from fedquant.validation.experiment.config import ExperimentConfig
    from fedquant.validation.experiment.presets import preset
    from fedquant.validation.validate import run_experiment

    config = ExperimentConfig(**preset("demo")).checked()
    with tempfile.TemporaryDirectory() as tmp:
        wall1, clock = _instrumented_run(config, Path(tmp) / "one")
        start = time.perf_counter()
        run_experiment(config, Path(tmp) / "two", jobs=2, progress=False)
        wall2 = time.perf_counter() - start
    by_activity = {a: sum(v for (p, act), v in clock.totals.items() if act == a) for a in ACTIVITIES}
    by_phase = {p: sum(v for (ph, a), v in clock.totals.items() if ph == p) for p in PHASES}
    out: dict[str, Any] = {"job": "fedquant validate (the demo: preset demo, 5 seeds)",
                           "wall_seconds_one_worker": wall1, "wall_seconds_two_workers": wall2,
                           "by_activity": by_activity, "by_phase": by_phase,
                           "matrix": {f"{p} / {a}": v for (p, a), v in sorted(clock.totals.items())}}
    if notebooks:
        root = Path(__file__).resolve().parents[2]
        start = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbmake", str(root / "notebooks")],
                              capture_output=True, text=True, check=False, env=env)
        out["notebooks_seconds"] = time.perf_counter() - start
        out["notebooks_passed"] = done.returncode == 0
    return out


def format_bench(r: dict[str, Any]) -> str:
    w = r["wall_seconds_one_worker"]
    lines = [f"whole job: {r['job']}",
             f"  wall time: {w:.1f} s with one worker (timed below), {r['wall_seconds_two_workers']:.1f} s with two",
             "  by activity (exclusive):"]
    lines += [f"    {a:<20}{v:8.2f} s {100 * v / w:6.1f}%" for a, v in r["by_activity"].items()]
    lines.append("  by phase:")
    lines += [f"    {p:<20}{v:8.2f} s {100 * v / w:6.1f}%" for p, v in r["by_phase"].items()]
    if "notebooks_seconds" in r:
        lines.append(f"  notebooks (pytest --nbmake notebooks): {r['notebooks_seconds']:.1f} s"
                     f"{'' if r['notebooks_passed'] else ' (FAILED)'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_bench(bench_job(notebooks="--notebooks" in sys.argv)))
