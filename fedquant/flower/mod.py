"""``fedquant_mod``: a Flower client mod that sends the update quantized and encoded by fedquant.

Register it with ``ClientApp(mods=[fedquant_mod])`` (modelled on Flower's ``fixedclipping_mod``). On a TRAIN
message whose config carries ``fedquant-levels`` (set every round by ``QuantizedStrategy``), it lets the app
train, then replaces the reply's arrays by the encoded update against the received global arrays (wire.py)
and adds three metrics to the reply: ``fedquant-bits`` (the theory's formula), ``fedquant-bytes`` (the encoded
length) and ``fedquant-range`` (the RMS range of the update over arrays). Without the key it changes nothing.
The dither is seeded by (``fedquant-seed``, server round, node id), so a run is reproducible.
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, Context, Message, MessageType, MetricRecord
from flwr.clientapp.typing import ClientAppCallable

from fedquant.flower.wire import encode_update
from fedquant.validation.rng import seed_for

KEY_LEVELS, KEY_QUANTIZER, KEY_SEED = "fedquant-levels", "fedquant-quantizer", "fedquant-seed"
METRICS = ("fedquant-bits", "fedquant-bytes", "fedquant-range")


def fedquant_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    if msg.metadata.message_type != MessageType.TRAIN or len(msg.content.config_records) != 1:
        return call_next(msg, ctxt)
    config = next(iter(msg.content.config_records.values()))
    if KEY_LEVELS not in config:
        return call_next(msg, ctxt)
    sent_key, sent = next(iter(msg.content.array_records.items()))
    global_arrays = dict(zip(sent.keys(), sent.to_numpy_ndarrays(), strict=True))
    reply = call_next(msg, ctxt)
    if reply.has_error():
        return reply
    key, trained_record = next(iter(reply.content.array_records.items()))
    trained = dict(zip(trained_record.keys(), trained_record.to_numpy_ndarrays(), strict=True))
    gen = torch.Generator().manual_seed(seed_for(int(config.get(KEY_SEED, 0)), int(config.get("server-round", 0)),
                                                 int(ctxt.node_id) % (2**31), "quantize"))
    enc = encode_update(global_arrays, trained, int(config[KEY_LEVELS]), str(config.get(KEY_QUANTIZER, "stochastic")),
                        gen)
    reply.content.array_records[key] = ArrayRecord(
        {k: Array(np.frombuffer(enc.messages[k], dtype=np.uint8).copy()) for k in global_arrays})
    metrics = next(iter(reply.content.metric_records.values()), None)
    if metrics is None:
        metrics = MetricRecord()
        reply.content.metric_records["metrics"] = metrics
    metrics["fedquant-bits"] = enc.bits
    metrics["fedquant-bytes"] = enc.nbytes
    metrics["fedquant-range"] = enc.range_rms
    del sent_key
    return reply
