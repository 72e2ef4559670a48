"""Exact worst cases (PEPit performance-estimation SDPs) of the special cases of FedAvg our bounds are held against.

The special case is one client (N = 1) without quantization noise: a round starts at x_t, the client runs
τ = ``local_steps`` gradient steps w^{k+1} = w^k − lr·∇f(w^k) from w^0 = x_t, and x_{t+1} = w^τ. With one client
and no noise this is plain gradient descent with τ·T steps; ``rounds`` only says where a metric is read.

Each public function solves one performance-estimation problem (PEP): the largest value of a performance metric
over every function of a class and every starting point allowed by an initial condition. PEPit writes it as an
SDP in the Gram matrix of (x_0, ∇f at every iterate), about τ·T + 2 points, and returns its *dual* value: the
value of the dual certificate the solver returns, an upper bound on the worst case up to that certificate's
residual, i.e. up to solver tolerance (the primal value is a matching lower bound up to the same tolerance).
``*_detail`` variants return both, as a :class:`WorstCase`.

Solving. The SDP goes to cvxpy with CLARABEL (interior point, one thread, so repeated runs give identical
numbers) when cvxpy has it, else SCS; ``*_detail(..., solver=...)`` picks another cvxpy solver. Measured with
CLARABEL at the tolerances below: |dual − primal|/value ≤ 8e-8 on every size timed (τ ∈ {1, 2, 4, 8},
T ∈ {1, 4, 16}, τ·T ≤ 64), ≤ 1e-10 for τ = 1; the τ = 1 closed form is met to ≤ 4e-10 relative; PL values agree
with SCS at eps 1e-9 to ≤ 4e-8. Two caveats: the duality gap understates the error (closed form off by up to 5×
the gap), and the precision is absolute-ish, so tiny values are relatively worse (PL, τ·T = 64, value 3.3e-6:
gap 2e-5). SCS at eps 1e-7 (our setting) is good to about 1e-7 (closed form) and 7e-7 (PL), and slower.

Cost. The interpolation constraints are dense in the Gram matrix (x_i − x_j is a sum of gradients), so a PEP
with N = τ·T + 1 iterates has N(N−1) constraints of O(N²) entries each. Measured (one core, L = 1, lr = 0.5;
PEPit + cvxpy import ≈ 1.4 s once): non-convex τ·T ≤ 16 ≤ 0.4 s, τ·T = 32 ≈ 4 s, τ·T = 64 ≈ 60 s, τ·T = 128
impractical (> 9 GB before the solver starts); PL τ·T ≤ 16 ≤ 2.5 s, τ·T = 32 ≈ 25 s, τ·T = 64 ≈ 13 min.

Quiet. PEPit prints at every ``verbose`` level that is truthy, so ``verbose=-1`` is *not* silent; we pass
``verbose=0``, which prints nothing (CLARABEL and SCS are silent unless asked). cvxpy's "Solution may be
inaccurate" warning (status ``optimal_inaccurate``, which CLARABEL reports on these degenerate SDPs even at a
1e-9 duality gap) is not raised; the status is kept in :attr:`WorstCase.status` and the measured precision in
:attr:`WorstCase.gap`. Any other status (infeasible, unbounded, solver error) raises :class:`RuntimeError`.

Fast compilation. PEPit's stock cvxpy wrapper sends every constraint as its own cvxpy expression, and under
cvxpy 1.9 the new subexpression cache keys each weight array by the address of a freed temporary, so all keys
collide and compilation turns quadratic (PL, T = 16: 46–73 s, against ≈ 2 s here). We register a wrapper of our
own, subclassing PEPit's, that stacks all scalar constraints into one sparse matrix ``A z + b ≤ 0`` (one more for
equalities, one for the LMI entries) before cvxpy sees them: the same SDP, with per-constraint dual values
handed back to PEPit in its own order for its certificate check.

PEPit keeps its model in class attributes, reset by every ``PEP()``: build and solve one problem at a time per
process (not thread-safe). PEPit and cvxpy are dev dependencies, imported on first use; importing this module
needs neither.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fedquant.errors import InvalidArgument

#: the key under which our stacked wrapper is registered in PEPit's wrapper table
WRAPPER = "fedquant-stacked"
#: cvxpy statuses whose solution is kept (anything else raises)
_ACCEPTED = ("optimal", "optimal_inaccurate")
#: solver settings. CLARABEL: one thread (repeatable runs) and tolerances 100× tighter than its defaults (1e-8),
#: which moves the PL values by up to 8e-7 toward the SCS-at-1e-9 reference at no measurable cost. SCS: 1e-7
#: (its default 1e-5 was off by 6e-5 on PL).
_OPTIONS: dict[str, dict[str, Any]] = {
    "CLARABEL": {"max_threads": 1, "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10, "tol_ktratio": 1e-8},
    "SCS": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 100_000},
}
_INSTALL = "PEPit is needed for exact worst cases (a dev dependency): pip install -e '.[dev]'"


@dataclass(frozen=True)
class WorstCase:
    """One solved PEP: ``value`` the dual value (upper bound), ``primal`` the primal value (lower bound),
    ``solver`` the SDP solver's name and ``status`` cvxpy's status for its answer."""

    value: float
    primal: float
    solver: str
    status: str

    @property
    def gap(self) -> float:
        """The solver's achieved relative precision |dual − primal| / |dual| (0 when both are 0)."""
        scale = abs(self.value)
        return abs(self.value - self.primal) / scale if scale > 0 else abs(self.primal)


# ---------------------------------------------------------------------------------------------- public API


def local_gd_nonconvex(L: float, lr: float, local_steps: int, rounds: int, gap: float = 1.0) -> float:
    """max (1/T)·Σ_{t<T} ‖∇f(x_t)‖² over L-smooth f (not necessarily convex) with f(x_0) − f(x_T) ≤ gap.

    x_0, …, x_T are the round starts of local GD (``local_steps`` = τ steps of size ``lr`` per round,
    T = ``rounds``); the metric is one linear expression, the average over x_0 … x_{T−1} (not a min).
    Function class ``SmoothFunction``, whose interpolation conditions are exact, so the value is the exact
    worst case (dual value: an upper bound, tight to solver precision). For τ = 1 and lr·L ≤ 1 it equals
    gap / (lr·T·(1 − L·lr/2)). It is never below the value on f = (L/2)·x², 2L·gap / (T·(1 − (1 − lr·L)^{2τ}));
    observed at lr·L = 0.5 for every τ ≤ 8, T ≤ 16 timed: equal to it.
    """
    return local_gd_nonconvex_detail(L, lr, local_steps, rounds, gap).value


def local_gd_pl(L: float, mu: float, lr: float, local_steps: int, rounds: int, gap: float = 1.0) -> float:
    """max f(x_T) − f* over L-smooth f with the Polyak–Łojasiewicz inequality ‖∇f(x)‖²/2 ≥ μ·(f(x) − f*), and
    f(x_0) − f* ≤ gap, after T = ``rounds`` rounds of local GD (``local_steps`` = τ steps of size ``lr`` each).

    No interpolation conditions are known for this class. PEPit has two sets of necessary ones, both valid
    relaxations (every function of the class satisfies them, so the PEP value is an upper bound on the true
    worst case); we take the tighter, ``SmoothQuadraticLojasiewiczFunctionExpensive``: the PL and upper-PL
    inequalities against a stationary point x* (as ``...Cheap``) and, per ordered pair of points, two 2×2 LMIs
    (Rubbens, Hendrickx, Taylor 2025, Prop. 3.4) whose (1,1) entry is the smooth interpolation inequality
    ``Cheap`` imposes and which cover the family ``Cheap`` adds for one chosen α. Its feasible set therefore lies
    inside ``Cheap``'s, and it is measurably tighter: L = 1, μ = 0.2, τ = T = 1, lr = 0.5 gives 0.82143 against
    0.83297 for ``Cheap`` (with or without α); at lr = 1, 0.68327 against 0.72727 (0.68477 with α = μ/(2L+μ)).
    Descent-lemma rate: 0.85. The value is an upper bound, the best PEPit can certify, not a proven exact worst
    case. Observed (not guaranteed): the value for τ·T steps is the one-step value to the power τ·T.
    """
    return local_gd_pl_detail(L, mu, lr, local_steps, rounds, gap).value


def gd_last_iterate(L: float, lr: float, rounds: int, gap: float = 1.0) -> float:
    """max ‖∇f(x_T)‖² over L-smooth f (not necessarily convex) with f(x_0) − f(x_T) ≤ gap, where x_T is the
    last of T = ``rounds`` gradient steps of size ``lr`` (τ = 1). Exact class (``SmoothFunction``).

    Never below the value on the concave f = −(L/2)·x², 2L·gap·r/(r − 1) with r = (1 + lr·L)^{2T}, which tends
    to 2L·gap: there is no rate in T. Observed for lr·L ∈ {0.25, 0.5, 1}, T ∈ {1, 4, 16}: equal to it.
    """
    return gd_last_iterate_detail(L, lr, rounds, gap).value


def local_gd_nonconvex_detail(L: float, lr: float, local_steps: int, rounds: int, gap: float = 1.0,
                              solver: str | None = None) -> WorstCase:
    """:func:`local_gd_nonconvex` with the primal value, solver and status (``solver``: a cvxpy solver name,
    default :func:`sdp_solver`)."""
    _check_smooth(L, lr, local_steps, rounds, gap)
    pepit = _pepit()
    problem = pepit.PEP()
    f = problem.declare_function(pepit.functions.SmoothFunction, L=L)
    x = problem.set_initial_point()
    f0 = f(x)
    squared_norms = []
    for _ in range(rounds):
        squared_norms.append(f.gradient(x) ** 2)
        x = _local_round(f, x, lr, local_steps)
    problem.set_initial_condition(f0 - f(x) <= gap)
    problem.set_performance_metric(_mean(squared_norms))
    return _solve(problem, solver)


def local_gd_pl_detail(L: float, mu: float, lr: float, local_steps: int, rounds: int, gap: float = 1.0,
                       solver: str | None = None) -> WorstCase:
    """:func:`local_gd_pl` with the primal value, solver and status (``solver`` as in
    :func:`local_gd_nonconvex_detail`)."""
    _check_smooth(L, lr, local_steps, rounds, gap)
    if not 0 < mu <= L:
        raise InvalidArgument("mu", "0 < mu <= L", mu)
    pepit = _pepit()
    problem = pepit.PEP()
    f = problem.declare_function(pepit.functions.SmoothQuadraticLojasiewiczFunctionExpensive, L=L, mu=mu)
    _, _, f_star = f.stationary_point(return_gradient_and_function_value=True)
    x = problem.set_initial_point()
    problem.set_initial_condition(f(x) - f_star <= gap)
    for _ in range(rounds):
        x = _local_round(f, x, lr, local_steps)
    problem.set_performance_metric(f(x) - f_star)
    return _solve(problem, solver)


def gd_last_iterate_detail(L: float, lr: float, rounds: int, gap: float = 1.0,
                           solver: str | None = None) -> WorstCase:
    """:func:`gd_last_iterate` with the primal value, solver and status (``solver`` as in
    :func:`local_gd_nonconvex_detail`)."""
    _check_smooth(L, lr, 1, rounds, gap)
    pepit = _pepit()
    problem = pepit.PEP()
    f = problem.declare_function(pepit.functions.SmoothFunction, L=L)
    x = problem.set_initial_point()
    f0 = f(x)
    for _ in range(rounds):
        x = _local_round(f, x, lr, 1)
    problem.set_initial_condition(f0 - f(x) <= gap)
    problem.set_performance_metric(f.gradient(x) ** 2)
    return _solve(problem, solver)


def sdp_solver() -> str:
    """The cvxpy solver the PEPs go to: CLARABEL if installed, else SCS."""
    with _dev_dependency():
        import cvxpy
    return "CLARABEL" if "CLARABEL" in cvxpy.installed_solvers() else "SCS"


# ---------------------------------------------------------------------------------------------- the method


def _local_round(f: Any, x: Any, lr: float, local_steps: int) -> Any:
    """One round of local GD on PEPit points: w^0 = x, w^{k+1} = w^k − lr·∇f(w^k), returns w^τ."""
    w = x
    for _ in range(local_steps):
        w = w - lr * f.gradient(w)
    return w


def _mean(terms: list[Any]) -> Any:
    """(1/n)·Σ terms as one PEPit expression."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total / len(terms)


def _check_smooth(L: float, lr: float, local_steps: int, rounds: int, gap: float) -> None:
    for name, value in (("L", L), ("lr", lr), ("gap", gap)):
        if not 0 < value < float("inf"):
            raise InvalidArgument(name, "a finite number > 0", value)
    for name, count in (("local_steps", local_steps), ("rounds", rounds)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidArgument(name, "an integer >= 1", count)


# ---------------------------------------------------------------------------------------------- solving


def _pepit() -> Any:
    """The PEPit package, with our wrapper registered; a clear error when PEPit (or cvxpy) is not installed."""
    with _dev_dependency():
        import PEPit
        import PEPit.functions
    _register_wrapper()
    return PEPit


@contextlib.contextmanager
def _dev_dependency() -> Iterator[None]:
    """Turn a missing PEPit or cvxpy into one message that says how to install them; other errors pass."""
    try:
        yield
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in ("PEPit", "cvxpy"):
            raise
        raise ModuleNotFoundError(_INSTALL, name=err.name) from err


def _solve(problem: Any, solver: str | None) -> WorstCase:
    """Solve a built PEP quietly with our wrapper and ``solver`` (default :func:`sdp_solver`)."""
    solver = sdp_solver() if solver is None else solver.upper()
    options = _OPTIONS.get(solver, {})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
        dual = problem.solve(wrapper=WRAPPER, safe_mode=False, verbose=0, solver=solver, **options)
    wrapper = problem.wrapper
    status = str(wrapper.prob.status)
    if status not in _ACCEPTED or dual is None:
        raise RuntimeError(f"the PEP SDP was not solved: {solver} status {status!r}")
    return WorstCase(value=float(dual), primal=float(wrapper.objective.value), solver=wrapper.solver_name,
                     status=status)


@functools.cache
def _register_wrapper() -> None:
    """Add our stacked wrapper to PEPit's wrapper table (once; the stock entries are left as they are)."""
    from PEPit.wrappers import WRAPPERS

    WRAPPERS[WRAPPER] = _stacked_wrapper_class()


def _stacked_wrapper_class() -> type:
    """PEPit's cvxpy wrapper with every scalar constraint stacked into one sparse matrix (built on first use,
    since it subclasses a PEPit class)."""
    import cvxpy as cp
    import numpy as np
    import scipy.sparse as sp
    from PEPit.constraint import Constraint
    from PEPit.expression import Expression
    from PEPit.point import Point
    from PEPit.psd_matrix import PSDMatrix
    from PEPit.wrappers import CvxpyWrapper

    def coefficients(expression: Any, n: int) -> tuple[list[int], list[float], float]:
        """expression = Σ_k vals_k·z[cols_k] + const with z = (vec(G) in column order, F)."""
        cols: list[int] = []
        vals: list[float] = []
        const = 0.0
        for key, weight in expression.decomposition_dict.items():
            if isinstance(key, tuple):
                left, right = key
                cols.append(left.counter + n * right.counter)
                vals.append(weight)
            elif isinstance(key, Expression):
                cols.append(n * n + key.counter)
                vals.append(weight)
            else:  # the constant term, keyed by 1
                const += weight
        return cols, vals, const

    def stacked(expressions: list[Any], n: int, width: int) -> tuple[Any, Any]:
        """The sparse matrix A and vector b with A z + b = the expressions, one row each."""
        rows, cols, vals = [], [], []
        b = np.zeros(len(expressions))
        for r, expression in enumerate(expressions):
            c, v, b[r] = coefficients(expression, n)
            rows += [r] * len(c)
            cols += c
            vals += v
        return sp.csr_array((vals, (rows, cols)), shape=(len(expressions), width)), b

    class StackedCvxpyWrapper(CvxpyWrapper):
        """The same SDP as PEPit's cvxpy wrapper, sent as a few stacked cvxpy constraints:
        ``A_ineq z + b_ineq <= 0``, ``A_eq z + b_eq == 0``, one stacked equality tying a vector m to every LMI
        entry, and per LMI ``reshape(m block) >> 0``. cvxpy's ``>>`` constrains the symmetric part; PEPit's LMIs
        are symmetric (the same expression on both sides), so this is the same constraint."""

        def send_constraint_to_solver(self, constraint: Any) -> None:
            self._list_of_constraints_sent_to_solver.append(constraint)

        def send_lmi_constraint_to_solver(self, psd_matrix: Any) -> None:
            self._list_of_constraints_sent_to_solver.append(psd_matrix)

        def generate_problem(self, objective: Any) -> Any:
            n = Point.counter
            width = n * n + Expression.counter
            z = cp.hstack([cp.vec(self.G, order="F"), self.F])
            sent = self._list_of_constraints_sent_to_solver
            kinds = ("inequality", "equality")
            groups = {kind: [c for c in sent if isinstance(c, Constraint) and c.equality_or_inequality == kind]
                      for kind in kinds}
            if len(groups["inequality"]) + len(groups["equality"]) != sum(isinstance(c, Constraint) for c in sent):
                raise ValueError("a PEPit constraint is neither an equality nor an inequality")
            self._scalar = {}
            constraints = list(self._list_of_solver_constraints)  # G ⪰ 0, from set_main_variables
            for kind in kinds:
                if groups[kind]:
                    A, b = stacked([c.expression for c in groups[kind]], n, width)
                    lhs = A @ z + b
                    constraints.append(lhs <= 0 if kind == "inequality" else lhs == 0)
                    self._scalar[kind] = (constraints[-1], {id(c): k for k, c in enumerate(groups[kind])})
            self._lmi = {}
            lmis = [m for m in sent if isinstance(m, PSDMatrix)]
            if lmis:
                entries = [m[i, j] for m in lmis for j in range(m.shape[1]) for i in range(m.shape[0])]
                A, b = stacked(entries, n, width)
                flat = cp.Variable(len(entries))  # every LMI's entries, column by column, one block after another
                constraints.append(flat == A @ z + b)
                start = 0
                for m in lmis:
                    size = m.shape[0] * m.shape[1]
                    constraints.append(cp.reshape(flat[start:start + size], m.shape, order="F") >> 0)
                    self._lmi[id(m)] = constraints[-1]
                    start += size
            A, b = stacked([objective], n, width)
            self.objective = (A @ z + b)[0]
            self._list_of_solver_constraints = constraints
            self.prob = cp.Problem(cp.Maximize(self.objective), constraints)
            return self.prob

        def _recover_dual_values(self) -> tuple[list[Any], Any]:
            residual = self._list_of_solver_constraints[0].dual_value
            duals = {kind: (np.atleast_1d(constraint.dual_value), index)
                     for kind, (constraint, index) in self._scalar.items()}
            values: list[Any] = [residual]
            for item in self._list_of_constraints_sent_to_solver:
                if isinstance(item, PSDMatrix):
                    values.append(self._lmi[id(item)].dual_value)
                else:
                    vector, index = duals[item.equality_or_inequality]
                    values.append(float(vector[index[id(item)]]))
            return values, residual

    return StackedCvxpyWrapper
