"""fedquant.validation — FedAvg on real offline data with quantized uplinks and exact bit accounting.

The rooms, each depending only on the ones above it:

* ``rng``          randomness keyed by (seed, round, client, stream): same seed, same bytes
* ``data``         datasets (digits, mnist, mnist1d, synthetic) and partitioners (iid, dirichlet, shards, natural)
* ``compression``  quantizers (stochastic, deterministic, qsgd) and codecs (fixed-length, Elias)
* ``training``     models, local SGD, the loop and vectorised engines, the global loss, ``run_fedavg``
* ``experiment``   configuration and presets, per-seed set-up, pilot → plan → trial calibration, constants
                   estimation, the runner that records each (scheme, seed) run
* ``report``       checks (predicted vs measured), summary tables, report.md, figures

``run_experiment(ExperimentConfig(...), out)`` (``validate.py``) is ``fedquant validate`` as a function: it
runs what is missing, then writes the report. Names load on first use.
"""

from __future__ import annotations

from fedquant.lazy import lazy_exports

_EXPORTS = {"run_experiment": "validate", "ExperimentConfig": "experiment.config", "preset": "experiment.presets"}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, lambda: globals())
