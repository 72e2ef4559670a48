"""fedquant.benchmarks — every ``fedquant bench`` target, each printing ratios measured side by side in one run.

* ``theory``      the generated numeric module against sympy's lambdify and evaluation, and the bound against
                  PEPit's exact worst case (``tightness``, which solves its SDPs through ``worst_case``; PEPit is
                  a dev dependency)
* ``solvers``     the exact schedule solvers against a general-purpose solver (cvxpy)
* ``engines``     the vectorised FedAvg engine against the per-client loop
* ``quantizers``  quantize + encode throughput against memory bandwidth
"""
