"""experiment — the configuration, its presets, each seed's set-up, the pilot → plan → trial calibration,
the estimated constants, and the runner that records every (scheme, seed) run in the run folder.
"""

from fedquant.validation.experiment.config import DEFAULT_SCHEMES, ExperimentConfig
from fedquant.validation.experiment.estimated_constants import EstimatedConstants, estimate_constants
from fedquant.validation.experiment.plan import Plan, make_plan
from fedquant.validation.experiment.presets import PRESETS, preset
from fedquant.validation.experiment.runner import prepare, run_seed, run_seeds
from fedquant.validation.experiment.seed_setup import SeedSetup, set_up_seed
from fedquant.validation.experiment.trial_calibration import refine_knob

__all__ = ["DEFAULT_SCHEMES", "PRESETS", "EstimatedConstants", "ExperimentConfig", "Plan", "SeedSetup",
           "estimate_constants", "make_plan", "prepare", "preset", "refine_knob", "run_seed", "run_seeds",
           "set_up_seed"]
