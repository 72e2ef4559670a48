"""``QuantizedStrategy``: wrap a Flower strategy so that its clients send fedquant-quantized updates.

``configure_train`` puts round t's level into the train config outright every round (``Strategy.start`` passes
the same ConfigRecord each round), from an offline fedquant schedule (one level per round) or an online
``LevelRule`` fed with what the server knows before round t: the previous round's aggregated training loss and
the ranges the clients reported (so a range rule reacts one round late — a Flower server cannot see an update
before the client has quantized it). ``aggregate_train`` decodes each reply against the global arrays it sent
(``fedquant_mod`` encodes them), hands the decoded replies to the wrapped strategy, and records per round the
level, the formula bits and the encoded bytes (``history``). ``levels=None`` sends unquantized updates through
the same path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from fedquant.flower.mod import KEY_LEVELS, KEY_QUANTIZER, KEY_SEED
from fedquant.flower.wire import decode_update
from fedquant.optimizer.schemes.level_rule import Context, LevelRule, Observation


class QuantizedStrategy(Strategy):
    def __init__(self, strategy: Strategy, levels: Sequence[int] | None = None, rule: LevelRule | None = None,
                 context: Context | None = None, quantizer: str = "stochastic", seed: int = 0,
                 loss_key: str = "train_loss") -> None:
        if levels is not None and rule is not None:
            raise ValueError("give an offline schedule (levels) or an online rule, not both")
        self.strategy, self.levels, self.rule, self.quantizer, self.seed = strategy, levels, rule, quantizer, seed
        self.loss_key = loss_key
        self.state = None if rule is None else rule.init(context)
        self.sent: ArrayRecord | None = None
        self.last: tuple[float, np.ndarray] | None = None  # (aggregated loss, reported ranges) of the last round
        self.history: list[dict[str, Any]] = []
        self.current: int | None = None

    def _level(self, server_round: int) -> int | None:
        t = server_round - 1
        if self.levels is not None:
            return int(self.levels[t])
        if self.rule is None:
            return None
        loss, ranges = self.last if self.last is not None else (float("nan"), np.ones((1, 1)))
        s, self.state = self.rule.update(Observation(t, loss, ranges), self.state)
        return int(np.max(s))

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                        grid: Grid) -> Iterable[Message]:
        self.sent = arrays
        self.current = self._level(server_round)
        for key in (KEY_LEVELS, KEY_QUANTIZER, KEY_SEED):
            if key in config:
                del config[key]
        if self.current is not None:
            config[KEY_LEVELS] = self.current
            config[KEY_QUANTIZER] = self.quantizer
            config[KEY_SEED] = self.seed
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int,
                        replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        bits = nbytes = 0
        ranges, losses = [], []
        if self.current is not None and self.sent is not None:
            global_arrays = dict(zip(self.sent.keys(), self.sent.to_numpy_ndarrays(), strict=True))
            for msg in replies:
                if msg.has_error():
                    continue
                key, record = next(iter(msg.content.array_records.items()))
                messages = {k: a.numpy().tobytes() for k, a in record.items()}
                decoded = decode_update(global_arrays, messages)
                msg.content.array_records[key] = ArrayRecord({k: Array(decoded[k]) for k in global_arrays})
                m = next(iter(msg.content.metric_records.values()))
                bits += int(m["fedquant-bits"])
                nbytes += int(m["fedquant-bytes"])
                ranges.append(float(m["fedquant-range"]))
                if self.loss_key in m:
                    losses.append(float(m[self.loss_key]))
        arrays, metrics = self.strategy.aggregate_train(server_round, replies)
        if ranges:
            self.last = (float(np.mean(losses)) if losses else float("nan"), np.array(ranges)[:, None])
        self.history.append({"round": server_round, "levels": self.current, "bits": bits, "bytes": nbytes,
                             "clients": len(ranges)})
        return arrays, metrics

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord,
                           grid: Grid) -> Iterable[Message]:
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        self.strategy.summary()
