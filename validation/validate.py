"""``fedquant validate`` as a function: check, run every (scheme, seed) that is missing, then report.

The experiment room runs and records (``experiment.runner``), the report room reads the records back
(``report.summary``); this is the one place that calls both, so neither imports the other.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fedquant.errors import InvalidArgument
from fedquant.validation.experiment.config import ExperimentConfig
from fedquant.validation.experiment.runner import locked, prepare, run_seeds
from fedquant.validation.report.summary import write_outputs


def run_experiment(config: ExperimentConfig, out: str | Path, *, resume: bool = False, jobs: int = 1,
                   progress: bool = True) -> dict[str, Any]:
    """Run (or finish) an experiment and write every output; returns the summary."""
    out = Path(out)
    prepare(config, out, resume)
    fresh = not out.exists()
    with locked(out):
        prepare(config, out, resume)  # again under the lock: another run may have started in between
        try:
            run_seeds(config, out, jobs, progress)
            return write_outputs(config, out)
        except InvalidArgument:
            if not resume:  # refused once training had started: leave nothing, so the corrected rerun just works
                _empty(out, remove=fresh)
            raise


def _empty(out: Path, remove: bool) -> None:
    """Delete what a refused new experiment wrote into ``out`` (it was empty or new before the run)."""
    for p in out.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    if remove:
        out.rmdir()
