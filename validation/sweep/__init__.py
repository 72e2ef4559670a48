"""``fedquant sweep``: a grid of ``fedquant validate`` experiments, run serially, on a local pool or on Ray.

``grid.load(path)`` reads and checks the TOML grid; ``run.run_sweep(sweep, out, backend=..., workers=...)``
runs every missing (cell, seed) unit (``backends``) and writes the tidy tables (``tables``).
"""

from fedquant.validation.sweep.grid import Cell, Sweep, load, parse
from fedquant.validation.sweep.run import run_sweep

__all__ = ["Cell", "Sweep", "load", "parse", "run_sweep"]
