"""fedquant.validation — FedAvg on real offline data with quantized uplinks and exact bit accounting.

The rooms, each depending only on the ones above it:

* ``rng``          randomness keyed by (seed, round, client, stream): same seed, same bytes
* ``data``         datasets (digits, mnist1d, synthetic) and partitioners (iid, dirichlet, shards, natural)
* ``compression``  quantizers (stochastic, deterministic, qsgd) and codecs (fixed-length, Elias)
* ``training``     models, local SGD, the loop and vectorised engines, the global loss, ``run_fedavg``
* ``experiment``   configuration and presets, per-seed set-up, pilot → plan → trial calibration, constants
                   estimation, the runner that records each (scheme, seed) run
* ``report``       checks (predicted vs measured), summary tables, report.md, figures

``run_experiment(ExperimentConfig(...), out)`` (``validate.py``) is ``fedquant validate`` as a function: it
runs what is missing, then writes the report. Names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"run_experiment": "validate", "ExperimentConfig": "experiment.config", "preset": "experiment.presets"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
