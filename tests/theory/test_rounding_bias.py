"""Biased quantizers and error feedback (theory/rounding_bias.py) against a simulation of FedAvg on quadratics.

* The biased lemma E f(w_{t+1}) ≤ E f(w̄) + ‖∇f(w̄)‖·M + (L/2)(M² + V_t), with deterministic rounding to the
  nearest point of the block's [min, max] grid with s intervals (V_t = 0, M = ‖Σ_i p_i m_i‖), holds in
  simulation; in a constructed case where every client's error points the same way, the unbiased lemma's
  (L/2)V_t alone is exceeded several times over (which is why the first-order term is needed).
* Error feedback: the virtual iterate ŵ_t = w_t + Σ_i p_i e_{t,i} moves by the unquantized aggregate, and
  E f(ŵ_{t+1}) ≤ E f(ŵ_t) − cG² + (b + Lητ(1 + δ_G)E')G + v + Lητδ_X E' holds per round and telescoped.

The simulator (own numpy, own rounding) is self-contained. Monte Carlo comparisons allow Z = 5 standard errors
(one-sided normal tail 2.9e-7 per comparison; fixed seeds, so a run is deterministic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from fedquant.theory import numeric

Z = 5.0
EPS = float(np.finfo(float).eps)


def report(family: str, case: object, ratio: float) -> None:
    """bound/measured of a simulation (printed; collected with ``pytest -s | grep ratio``)."""
    print(f"ratio[{family}] {case}: {ratio:.4g}")


def se(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / math.sqrt(x.shape[0]))


def nearest_round(x: np.ndarray, levels: int) -> np.ndarray:
    """Deterministic rounding of every block x[..., :] to the nearest of min + jR/s, j = 0..s (R = max − min)."""
    m = x.min(axis=-1, keepdims=True)
    step = (x.max(axis=-1, keepdims=True) - m) / levels
    safe = np.where(step > 0, step, 1.0)
    return m + np.clip(np.rint((x - m) / safe), 0, levels) * step


@dataclass(frozen=True)
class Quadratic:
    """f_i(w) = ½wᵀA_iw − b_iᵀw, f = Σ_i p_i f_i; L = max_i ‖A_i‖₂; ζ_i(w) = ‖∇f_i(w) − ∇f(w)‖ exact."""

    A: np.ndarray  # (N, dim, dim)
    b: np.ndarray  # (N, dim)
    p: np.ndarray  # (N,)
    sigma2: float

    @property
    def clients(self) -> int:
        return self.b.shape[0]

    @property
    def dim(self) -> int:
        return self.b.shape[1]

    @property
    def A_bar(self) -> np.ndarray:
        return np.einsum("i,ijk->jk", self.p, self.A)

    @property
    def L(self) -> float:
        return float(max(np.abs(np.linalg.eigvalsh(a)).max() for a in self.A))

    @property
    def p2(self) -> float:
        return float(self.p @ self.p)

    @property
    def w_star(self) -> np.ndarray:
        return np.linalg.solve(self.A_bar, self.p @ self.b)

    def f(self, w: np.ndarray) -> np.ndarray:
        return 0.5 * np.einsum("...i,ij,...j->...", w, self.A_bar, w) - w @ (self.p @ self.b)

    def grad(self, w: np.ndarray) -> np.ndarray:
        return w @ self.A_bar - self.p @ self.b

    def zeta2(self, w: np.ndarray) -> float:
        g = np.einsum("ijk,k->ij", self.A, w) - self.b
        return float(self.p @ np.sum((g - self.p @ g) ** 2, axis=1))


def make_quadratic(seed: int, *, clients: int = 3, sigma2: float = 0.3, spread: float = 0.5,
                   hessian_spread: float = 0.0, equal: bool = False) -> Quadratic:
    gen = np.random.default_rng(seed)
    rot, _ = np.linalg.qr(gen.normal(size=(4, 4)))
    base = rot @ np.diag([0.5, 0.8, 1.3, 2.0]) @ rot.T
    pert = gen.normal(size=(clients, 4, 4))
    A = base[None] + hessian_spread * (pert + pert.transpose(0, 2, 1)) / 2
    p = np.full(clients, 1 / clients) if equal else gen.dirichlet(np.full(clients, 3.0))
    return Quadratic(A=(A + A.transpose(0, 2, 1)) / 2, b=spread * gen.normal(size=(clients, 4)), p=p,
                     sigma2=sigma2)


def local_updates(prob: Quadratic, w: np.ndarray, lr: float, tau: int, rng: np.random.Generator) -> np.ndarray:
    """Δ_i = w_i^τ − w_t of τ local SGD steps from w (reps, dim), noise covariance (σ²/dim)·I; (reps, N, dim)."""
    start = np.repeat(w[:, None, :], prob.clients, axis=1)
    local = start.copy()
    for _ in range(tau):
        g = np.einsum("rij,ijk->rik", local, prob.A) - prob.b
        local = local - lr * (g + rng.normal(scale=math.sqrt(prob.sigma2 / prob.dim), size=local.shape))
    return local - start


def round_weights(prob: Quadratic, reps: int, sampled: int | None, rng: np.random.Generator) -> np.ndarray:
    """p under full participation, else 1/n on n clients drawn uniformly without replacement (per rep)."""
    if sampled is None:
        return np.broadcast_to(prob.p, (reps, prob.clients))
    order = np.argsort(rng.random((reps, prob.clients)), axis=1)
    weights = np.zeros((reps, prob.clients))
    np.put_along_axis(weights, order[:, :sampled], 1.0 / sampled, axis=1)
    return weights


def one_round_coefficients(prob: Quadratic, lr: float, tau: int, w: np.ndarray,
                           omega: float) -> tuple[float, float, float]:
    args = (prob.L, lr, tau, prob.sigma2, prob.zeta2(w), prob.p2, omega)
    return (float(numeric.descent_coefficient(prob.L, lr, tau, omega)), float(numeric.coupling_coefficient(*args)),
            float(numeric.noise_per_round(*args)))


# ------------------------------------------------------------------------------------------------------------
# the rounding
# ------------------------------------------------------------------------------------------------------------


def test_nearest_rounding_moves_each_coordinate_at_most_half_a_cell(rng):
    """|Q(x) − x| ≤ R/(2s) per coordinate, the endpoints are kept, Q lands on the grid, ‖Q(x) − x‖² ≤ d R²/(4s²)
    (the deterministic lemma's worst case, attained at cell midpoints), and the error is a function of x."""
    for levels in (1, 2, 3, 7, 255):
        x = rng.normal(size=(2000, 9))
        q = nearest_round(x, levels)
        R = np.ptp(x, axis=-1, keepdims=True)
        assert np.all(np.abs(q - x) <= R / (2 * levels) * (1 + 1e-12))
        np.testing.assert_array_equal(q.min(axis=-1), x.min(axis=-1))
        # min + s·(R/s) re-forms the maximum up to two roundings of magnitude max(|min|, R)
        scale = np.maximum(np.abs(x.min(axis=-1)), R[:, 0])
        assert np.all(np.abs(q.max(axis=-1) - x.max(axis=-1)) <= 4 * EPS * scale)
        j = (q - x.min(axis=-1, keepdims=True)) / (R / levels)
        np.testing.assert_allclose(j, np.rint(j), atol=1e-9)
        err2 = np.sum((q - x) ** 2, axis=-1)
        assert np.all(err2 <= numeric.quantization_error_bound(9, R[:, 0], levels) * (1 + 1e-12))
    # the worst case is attained: all interior coordinates at cell midpoints (nudged off the ties), s = 2
    x = np.array([0.0, 0.25 + 1e-12, 0.75 - 1e-12, 1.0])
    worst = float(numeric.quantization_error_bound(2, 1.0, 2))  # the two interior coordinates: 2·(1/2)²/4
    assert float(np.sum((nearest_round(x, 2) - x) ** 2)) == pytest.approx(worst, rel=1e-9)


# ------------------------------------------------------------------------------------------------------------
# the biased lemma
# ------------------------------------------------------------------------------------------------------------

# (τ, η as a fraction of 1/(Lτ), levels, σ², N, sampled n, client-Hessian spread)
BIASED_CASES = [
    (1, 0.99, 1, 0.3, 3, None, 0.0),
    (1, 0.99, 15, 0.3, 3, None, 0.0),
    (2, 0.99, 7, 0.3, 3, None, 0.1),
    (4, 0.97, 3, 0.0, 3, None, 0.1),
    (8, 0.95, 15, 0.3, 3, None, 0.0),
    (8, 0.99, 7, 0.3, 6, 3, 0.1),
    (4, 0.97, 15, 0.3, 6, 2, 0.0),
]


@pytest.mark.parametrize(("tau", "frac", "levels", "sigma2", "N", "sampled", "hspread"), BIASED_CASES)
def test_biased_lemma_with_nearest_rounding(tau, frac, levels, sigma2, N, sampled, hspread, rng):
    """From a fixed w_t, with m = Σ_{i∈S} p_i(Q(Δ_i) − Δ_i) and root mean squares over the runs:

    1. E f(w_{t+1}) − E f(w̄) ≤ ‖∇f(w̄)‖·M + (L/2)M² (V_t = 0). On a quadratic this holds for each run's
       ⟨∇f(w̄), m⟩ + ½mᵀĀm and then by Cauchy–Schwarz over the runs, i.e. exactly for the empirical law too:
       no Monte Carlo allowance, 1e-12 relative for float rounding.
    2. M ≤ Σ_i p_i‖m_i‖ (Minkowski; with sampling the weights are random and the sum is inside the root mean
       square).
    3. ‖∇f(w̄)‖ ≤ κ_G G + κ_0 (biased_gradient_factor/offset), with the 5-SE allowance.
    4. The one-round inequality with the bias: E f(w_{t+1}) − f(w_t) ≤ −cG² + (b + Mκ_G)G + v + Mκ_0 + (L/2)M²,
       M raised by 5 SE of its square (the right side increases in M)."""
    prob = make_quadratic(3, clients=N, sigma2=sigma2, hessian_spread=hspread, equal=sampled is not None)
    L = prob.L
    lr = frac / (L * tau)
    omega = 0.0 if sampled is None else float(numeric.sampling_factor(N, sampled))
    w = prob.w_star + np.array([1.5, -1.0, 0.5, 2.0])
    G = float(np.linalg.norm(prob.grad(w)))
    reps = 20_000
    W = np.repeat(w[None], reps, axis=0)
    delta = local_updates(prob, W, lr, tau, rng)
    err = nearest_round(delta, levels) - delta
    P = round_weights(prob, reps, sampled, rng)
    w_bar = W + np.einsum("ri,rij->rj", P, delta)
    m = np.einsum("ri,rij->rj", P, err)
    w_next = w_bar + m
    m2 = np.sum(m**2, axis=-1)
    M = math.sqrt(m2.mean())
    grad_bar2 = np.sum(prob.grad(w_bar) ** 2, axis=-1)
    excess = prob.f(w_next) - prob.f(w_bar)
    lemma = math.sqrt(grad_bar2.mean()) * M + L / 2 * M**2
    assert excess.mean() <= lemma * (1 + 1e-12)
    if excess.mean() > 0:  # else the rounding happened to lower f and the lemma holds trivially
        report("biased lemma (per step)", (tau, frac, levels, sigma2, N, sampled), lemma / excess.mean())
    # 2: Minkowski
    per_client = np.sqrt(np.mean(np.sum(err**2, axis=-1), axis=0))  # ‖m_i‖
    if sampled is None:
        minkowski = float(prob.p @ per_client)
        assert minkowski * (1 + 1e-12) >= M
    weighted = np.sum(P * np.linalg.norm(err, axis=-1), axis=1)
    pointwise = math.sqrt(np.mean(weighted**2))
    assert pointwise * (1 + 1e-12) >= M
    # 3: the gradient after the round
    kG = float(numeric.biased_gradient_factor(L, lr, tau, omega))
    k0 = float(numeric.biased_gradient_offset(L, lr, tau, prob.sigma2, prob.zeta2(w), prob.p2, omega))
    assert grad_bar2.mean() - Z * se(grad_bar2) <= (kG * G + k0) ** 2
    # 4: the one-round inequality with the bias terms
    c, b, v = one_round_coefficients(prob, lr, tau, w, omega)
    M_hi = math.sqrt(m2.mean() + Z * se(m2))
    rhs = -c * G**2 + (b + M_hi * kG) * G + v + M_hi * k0 + L / 2 * M_hi**2
    change = prob.f(w_next) - prob.f(w)
    assert change.mean() <= rhs + Z * se(change)
    assert M > 0  # the rounding is visible
    report("biased one round", (tau, frac, levels, sigma2, N, sampled), change_ratio(rhs, float(change.mean())))


def test_gradient_after_the_round_is_attained_by_a_concave_quadratic():
    """‖∇f(w̄)‖ ≤ κ_G G + κ_0 is an equality for one noise-free step on f = −(L/2)‖w‖² + aᵀw (L-smooth, not
    convex), identical clients: ∇f(w̄) = (1 + ηL)∇f(w_t) and κ_G = 1 + Lη, κ_0 = 0 at τ = 1 (up to the τ = 1 float
    error of δ_G, ≤ 4√eps·Lη: theory/drift.py's ‖φ‖² closed form, see test_fedavg_bound.py). For τ > 1 the
    gradient grows to (1 + ηL)^τ G, still below κ_G G. κ_G too small by any factor fails."""
    L, N, dim = 1.4, 3, 4
    a = np.array([0.3, -0.2, 0.5, 0.1])
    prob = Quadratic(A=np.tile(-L * np.eye(dim), (N, 1, 1)), b=np.tile(-a, (N, 1)), p=np.full(N, 1 / N), sigma2=0.0)
    w = np.array([1.0, 0.5, -0.7, 0.2])
    G = float(np.linalg.norm(prob.grad(w)))
    for tau in (1, 2, 4, 8):
        lr = 0.98 / (L * tau)
        w_bar = w + prob.p @ local_updates(prob, w[None], lr, tau, np.random.default_rng(0))[0]
        measured = float(np.linalg.norm(prob.grad(w_bar)))
        assert measured == pytest.approx((1 + lr * L) ** tau * G, rel=1e-12)
        kG = float(numeric.biased_gradient_factor(L, lr, tau, 0.0))
        k0 = float(numeric.biased_gradient_offset(L, lr, tau, 0.0, 0.0, 1 / N, 0.0))
        assert k0 == 0.0
        assert measured <= (kG * G) * (1 + 1e-12)
        if tau == 1:
            assert kG * G <= measured * (1 + 4 * math.sqrt(EPS) * L * lr + 1e-12)


def test_unbiased_lemma_fails_when_rounding_errors_align():
    """A constructed round where deterministic rounding errs the same way on every client: f = (L/2)‖w‖², N
    identical clients (ζ = 0), no noise, τ = 1, and w_t such that every update Δ = −ηLw_t has two coordinates at
    the range ends and the others at ±0.45 of a cell width 1 (s = 2), which round to 0. Then m_i = m for all i,
    ⟨∇f(w̄), m⟩ = ((1 − ηL)/η)·‖m‖² > 0, and the measured excess f(w_{t+1}) − f(w̄) is several times
    (L/2)V_t = (L/2)Σ_i p_i²‖m_i‖² (the unbiased lemma's term, with the error's second moment for V_t) and more
    than (L/2)M² alone: the first-order term ‖∇f(w̄)‖·M is what makes the biased lemma hold."""
    L, N, d, levels = 2.0, 4, 12, 2
    lr = 0.5 / L
    pattern = np.concatenate([[-1.0, 1.0], np.tile([0.45, -0.45], (d - 2) // 2)])
    w = -pattern / (lr * L)  # Δ = −ηL·w = pattern
    prob = Quadratic(A=np.tile(L * np.eye(d), (N, 1, 1)), b=np.zeros((N, d)), p=np.full(N, 1 / N), sigma2=0.0)
    delta = local_updates(prob, w[None], lr, 1, np.random.default_rng(0))[0]
    np.testing.assert_allclose(delta, np.tile(pattern, (N, 1)), rtol=1e-14)
    q = nearest_round(delta, levels)
    m_i = q - delta
    m = prob.p @ m_i
    w_bar = w + prob.p @ delta
    excess = float(prob.f(w_bar + m) - prob.f(w_bar))
    V_t = float(np.sum(prob.p**2 * np.sum(m_i**2, axis=1)))
    M = float(np.linalg.norm(m))
    no_reduction = float(prob.p @ np.linalg.norm(m_i, axis=1))  # M = Σ_i p_i‖m_i‖: no 1/N reduction
    assert no_reduction == pytest.approx(M, rel=1e-14)
    unbiased = L / 2 * V_t
    # (1 − ηL)/η·‖m‖² + (L/2)‖m‖² = 3N·(L/2)V_t at ηL = 1/2: the unbiased term misses it by a factor 3N = 12
    assert excess == pytest.approx(3 * N * unbiased, rel=1e-12)
    assert excess > 2 * L / 2 * M**2
    biased = float(np.linalg.norm(prob.grad(w_bar))) * M + L / 2 * M**2
    assert excess <= biased * (1 + 1e-12)
    report("biased lemma (aligned errors)", "biased bound", biased / excess)
    report("biased lemma (aligned errors)", "unbiased (L/2)V_t", unbiased / excess)


# ------------------------------------------------------------------------------------------------------------
# error feedback
# ------------------------------------------------------------------------------------------------------------


def run_error_feedback(prob: Quadratic, w0: np.ndarray, lr: float, tau: int, levels: int, rounds: int, reps: int,
                       rng: np.random.Generator) -> dict[str, np.ndarray]:
    """EF-FedAvg with nearest rounding, full participation: client i sends Q(Δ_i + e_i) and keeps
    e_i ← Δ_i + e_i − Q(Δ_i + e_i); the server adds Σ_i p_i Q(·). Records ‖∇f(w_t)‖², ‖Σ_i p_i e_{t,i}‖², the
    real and virtual iterates, and Σ_i p_i Δ_{t,i}."""
    w = np.repeat(w0[None], reps, axis=0)
    e = np.zeros((reps, prob.clients, prob.dim))
    out = {k: [] for k in ("grad2", "resid2", "w", "w_hat", "agg")}
    for _ in range(rounds):
        agg_e = np.einsum("i,rij->rj", prob.p, e)
        out["grad2"].append(np.sum(prob.grad(w) ** 2, axis=-1))
        out["resid2"].append(np.sum(agg_e**2, axis=-1))
        out["w"].append(w)
        out["w_hat"].append(w + agg_e)
        delta = local_updates(prob, w, lr, tau, rng)
        out["agg"].append(np.einsum("i,rij->rj", prob.p, delta))
        q = nearest_round(delta + e, levels)
        e = delta + e - q
        w = w + np.einsum("i,rij->rj", prob.p, q)
    out["w"].append(w)
    out["w_hat"].append(w + np.einsum("i,rij->rj", prob.p, e))
    return {k: np.stack(v, axis=1) for k, v in out.items()}


def test_error_feedback_virtual_iterate_moves_by_the_unquantized_aggregate(rng):
    """ŵ_{t+1} = ŵ_t + Σ_i p_i Δ_{t,i} exactly (1e-12 absolute on O(1) iterates: a few roundings per round),
    ŵ_0 = w_0, while the real iterate differs from it by the aggregate residual."""
    prob = make_quadratic(5)
    tau, rounds = 3, 6
    lr = 0.9 / (prob.L * tau)
    w0 = prob.w_star + np.array([1.5, -1.0, 0.5, 2.0])
    run = run_error_feedback(prob, w0, lr, tau, 1, rounds, 50, rng)
    np.testing.assert_allclose(run["w_hat"][:, 1:], run["w_hat"][:, :-1] + run["agg"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(run["w_hat"][:, 0], run["w"][:, 0])
    assert np.max(np.abs(run["w_hat"] - run["w"])) > 0.01


def change_ratio(bound_change: float, measured_change: float) -> float:
    """bound/measured for increases, measured/bound for decreases (≥ 1 when the bound holds); inf when the bound
    allows an increase and the measurement decreases."""
    if measured_change > 0:
        return bound_change / measured_change
    if bound_change < 0:
        return measured_change / bound_change
    return math.inf


@pytest.mark.parametrize(("tau", "frac", "sigma2", "share"), [(1, 0.99, 0.3, 0.5), (3, 0.97, 0.3, 0.1),
                                                              (8, 0.95, 0.0, 0.05), (8, 0.99, 0.3, 0.02)])
def test_error_feedback_one_round_with_adversarial_residual(tau, frac, sigma2, share, rng):
    """E f(ŵ_{t+1}) − f(ŵ_t) ≤ −cG² + (b + κ_b E')G + v + κ_v E' (κ_b = error_feedback_factor, κ_v =
    error_feedback_offset) from a fixed w_t with a fixed aggregate residual of norm E' = share·G/L pointing along
    −∇f(w_t), the direction that makes ⟨∇f(ŵ_t) − ∇f(w_t), h_t⟩ most negative; ŵ_{t+1} = ŵ_t + Σ_i p_i Δ_i.
    Also reported: the residual's own effect, bound(E') − bound(0) over measured(E') − measured(0)."""
    prob = make_quadratic(9, sigma2=sigma2, hessian_spread=0.1)
    L = prob.L
    lr = frac / (L * tau)
    w = prob.w_star + 2 * np.array([1.5, -1.0, 0.5, 2.0])
    g = prob.grad(w)
    G = float(np.linalg.norm(g))
    E = share * G / L
    w_hat = w - E * g / G
    reps = 20_000
    agg = np.einsum("i,rij->rj", prob.p, local_updates(prob, np.repeat(w[None], reps, axis=0), lr, tau, rng))
    change = prob.f(w_hat + agg) - prob.f(w_hat)
    c, b, v = one_round_coefficients(prob, lr, tau, w, 0.0)
    kb = float(numeric.error_feedback_factor(L, lr, tau))
    kv = float(numeric.error_feedback_offset(L, lr, tau, prob.sigma2, prob.zeta2(w)))
    rhs = -c * G**2 + (b + kb * E) * G + v + kv * E
    assert change.mean() <= rhs + Z * se(change)
    report("error feedback (one round)", (tau, frac, sigma2, share), change_ratio(rhs, float(change.mean())))
    without = prob.f(w + agg) - prob.f(w)  # the same runs without the residual
    effect = change - without
    assert effect.mean() > Z * se(effect)  # the residual is visible
    report("error feedback (residual effect)", (tau, frac, sigma2, share), (kb * E * G + kv * E) / effect.mean())


@pytest.mark.parametrize("E", [0.05, 0.3, 1.0])
def test_error_feedback_one_round_is_attained_on_isotropic_quadratic(E):
    """The error-feedback inequality is an equality for one noise-free step on f = (L/2)‖w − w*‖² with identical
    clients and the residual along −∇f(w_t): f(ŵ_{t+1}) − f(ŵ_t) = −η(1 − Lη/2)G² + LηE'G, which is the right side
    at τ = 1 (b = v = 0, δ_G = δ_X = 0, κ_b = Lη). Deterministic; the bound must hold and exceed the measurement
    by at most the τ = 1 float error of c and κ_b (≤ η·4√eps·G² + Lη·4√eps·E'G, test_fedavg_bound.py)."""
    L, N, dim = 1.6, 3, 4
    w_star = np.array([0.2, -0.4, 0.1, 0.3])
    prob = Quadratic(A=np.tile(L * np.eye(dim), (N, 1, 1)), b=np.tile(L * w_star, (N, 1)), p=np.full(N, 1 / N),
                     sigma2=0.0)
    w = np.array([1.0, 0.5, -0.7, 0.2])
    g = prob.grad(w)
    G = float(np.linalg.norm(g))
    for frac in (0.3, 0.7, 1.0):
        lr = frac / L
        w_hat = w - E * g / G
        w_hat_next = w_hat + prob.p @ local_updates(prob, w[None], lr, 1, np.random.default_rng(0))[0]
        measured = float(prob.f(w_hat_next) - prob.f(w_hat))
        args = (L, lr, 1, 0.0, 0.0, prob.p2, 0.0)  # σ² = ζ² = 0 exactly (identical clients, no noise)
        c = float(numeric.descent_coefficient(L, lr, 1, 0.0))
        b, v = float(numeric.coupling_coefficient(*args)), float(numeric.noise_per_round(*args))
        assert b == 0.0 and v == 0.0
        rhs = -c * G**2 + float(numeric.error_feedback_factor(L, lr, 1)) * E * G
        rhs += float(numeric.error_feedback_offset(L, lr, 1, 0.0, 0.0)) * E
        scale = lr * G**2 + L * lr * E * G
        assert measured <= rhs + 1e-12 * scale
        assert rhs <= measured + 4 * math.sqrt(EPS) * scale + 1e-12 * scale


@pytest.mark.parametrize(("tau", "frac", "levels", "sigma2"), [(1, 0.99, 1, 0.3), (3, 0.97, 1, 0.3),
                                                               (8, 0.95, 2, 0.3), (4, 0.97, 1, 0.0)])
def test_error_feedback_telescoped_bound(tau, frac, levels, sigma2, rng):
    """(1/T)Σ_t E‖∇f(w_t)‖² ≤ (√B + √(B + K))²/c (nonconvex_from_coefficients) with b_t = b + κ_b E'_t,
    v_t = v + κ_v E'_t, the coupling sqrt(mean_t b_t²) (Cauchy–Schwarz over rounds) and K = Δ₀/T + mean_t v_t;
    E'_t = sqrt(E‖Σ_i p_i e_{t,i}‖²) measured, raised by 5 SE of its square. Shared Hessian: ζ² exact on the whole
    trajectory; the real iterates' gradients are measured (the inequality is in G_t at w_t)."""
    prob = make_quadratic(13, sigma2=sigma2)
    L, rounds, reps = prob.L, 30, 4000
    lr = frac / (L * tau)
    w0 = prob.w_star + np.array([1.5, -1.0, 0.5, 2.0])
    gap0 = float(prob.f(w0) - prob.f(prob.w_star))
    run = run_error_feedback(prob, w0, lr, tau, levels, rounds, reps, rng)
    resid2 = run["resid2"]
    E_hi = np.sqrt(resid2.mean(axis=0) + Z * resid2.std(axis=0, ddof=1) / math.sqrt(reps))
    c, b, v = one_round_coefficients(prob, lr, tau, w0, 0.0)
    b_t = b + float(numeric.error_feedback_factor(L, lr, tau)) * E_hi
    v_t = v + float(numeric.error_feedback_offset(L, lr, tau, prob.sigma2, prob.zeta2(w0))) * E_hi
    bound = float(numeric.nonconvex_from_coefficients(c, math.sqrt(np.mean(b_t**2)), gap0 / rounds + v_t.mean()))
    avg = run["grad2"].mean(axis=1)
    assert avg.mean() <= bound + Z * se(avg)
    assert E_hi.max() > 0.05  # the residual is not negligible
    report("error feedback (telescoped)", (tau, frac, levels, sigma2), bound / avg.mean())
