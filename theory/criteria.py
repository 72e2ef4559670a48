"""Names shared by the symbolic bound and its evaluation (kept free of sympy so evaluation stays light)."""

CRITERIA = ("nonconvex", "pl")
TERMS = ("initial_gap", "sgd_noise", "drift", "quantization")
