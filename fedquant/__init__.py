"""fedquant — how many bits should each round's model update get, under a communication budget?

Three subpackages that must agree: ``fedquant.theory`` (the derived bound and closed-form levels),
``fedquant.optimizer`` (budget-optimal schedules and the published baselines) and ``fedquant.validation``
(FedAvg on real data with exact bit accounting). The ``fedquant`` command is the front door.
"""

from importlib import metadata

try:
    __version__ = metadata.version("fedquant")
except metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
