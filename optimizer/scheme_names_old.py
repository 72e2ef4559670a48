"""The scheme names and the knobs each takes (no imports: the CLI reads this to build its help quickly)."""

SCHEMES = ("fixed", "adaquantfl", "dadaquant", "dadaquant-time", "dadaquant-clients", "feddq", "feddq-loss",
           "optimal", "optimal-online")

#: the key=value parameters each scheme spec accepts
PARAMS = {
    "fixed": ("bits",),
    "adaquantfl": ("s0",),
    "dadaquant": ("q_min", "q_max", "psi", "phi"),
    "dadaquant-time": ("q_min", "q_max", "psi", "phi"),
    "dadaquant-clients": ("q_min",),
    "feddq": ("delta", "floor"),
    "feddq-loss": ("s0",),
    "optimal": ("granularity",),
    "optimal-online": ("granularity",),
}

#: the knob a budget calibrates (a spec that sets it runs as given)
KNOBS = {"fixed": "bits", "adaquantfl": "s0", "dadaquant": "q_min", "dadaquant-time": "q_min",
         "dadaquant-clients": "q_min", "feddq": "delta", "feddq-loss": "s0"}
