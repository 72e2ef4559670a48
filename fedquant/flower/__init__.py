"""fedquant inside a Flower app (the optional extra ``fedquant[flower]``, flwr 1.42's message API).

* ``QuantizedStrategy(strategy, levels=... | rule=...)`` — wraps ``flwr.serverapp.strategy.FedAvg`` (or any
  strategy with its interface): the round's level into the train config, the clients' encoded updates decoded
  before aggregation, bits and bytes per round in ``history``;
* ``fedquant_mod`` — the client mod that quantizes and encodes the update with fedquant's quantizer and codec;
* ``example`` — a runnable app on digits (``python -m fedquant.flower.example``).
"""

from fedquant.flower.mod import fedquant_mod
from fedquant.flower.strategy import QuantizedStrategy

__all__ = ["QuantizedStrategy", "fedquant_mod"]
