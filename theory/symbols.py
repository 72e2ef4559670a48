"""The notation of docs/design.md §1 as sympy symbols: one home for every name the derivation uses.

Each symbol carries three spellings: its code name (what ``str`` and the generated numpy code use, e.g.
``sigma2``), a unicode name for text output (``σ²``) and a LaTeX name (``\\sigma^{2}``). The per-round
expectations that appear in the lemmas (E‖∇f(w_t)‖², the drift, the quantization variance, ...) are symbols
too: the derivation manipulates inequalities between them.
"""

from __future__ import annotations

import sympy
from sympy.printing.pretty.stringpict import prettyForm

_LATEX: dict[str, str] = {}
_TEXT: dict[str, str] = {}


class Sym(sympy.Symbol):
    """A sympy Symbol whose code name differs from its displayed names."""

    def _latex(self, printer: object) -> str:
        return _LATEX.get(self.name, self.name)

    def _pretty(self, printer: object) -> prettyForm:
        return prettyForm(_TEXT.get(self.name, self.name))


def _sym(code: str, text: str, latex: str, **assumptions: bool) -> Sym:
    _TEXT[code] = text
    _LATEX[code] = latex
    return Sym(code, **assumptions)


def label(code: str, text: str, latex: str) -> Sym:
    """A display-only symbol (the left side of a statement such as E‖Q(x) − x‖²)."""
    return _sym(code, text, latex)


def text_name(symbol: sympy.Symbol) -> str:
    """The unicode name of a symbol (its code name when it has none)."""
    return _TEXT.get(symbol.name, symbol.name)


# --- problem constants (the notation table of docs/design.md §1) ------------------------------------------
L = _sym("L", "L", "L", positive=True)
lr = _sym("lr", "η", r"\eta", positive=True)
local_steps = _sym("local_steps", "τ", r"\tau", positive=True, integer=True)
clients = _sym("clients", "N", "N", positive=True, integer=True)
p2 = _sym("p2", "‖p‖²", r"\|p\|^{2}", positive=True)  # Σ_i p_i²
sigma2 = _sym("sigma2", "σ²", r"\sigma^{2}", nonnegative=True)
zeta2 = _sym("zeta2", "ζ²", r"\zeta^{2}", nonnegative=True)
mu = _sym("mu", "μ", r"\mu", positive=True)
rounds = _sym("rounds", "T", "T", positive=True, integer=True)
gap = _sym("gap", "Δ₀", r"\Delta_0", nonnegative=True)  # f(w_0) - f*
d = _sym("d", "d", "d", positive=True, integer=True)
range_ = _sym("range_", "R", "R", nonnegative=True)
levels = _sym("levels", "s", "s", positive=True)
bits = _sym("bits", "b", "b", positive=True, integer=True)
budget_bits = _sym("budget_bits", "B", "B", positive=True)
loss = _sym("loss", "F", "F", nonnegative=True)
f_star = _sym("f_star", "f*", "f^{*}", nonnegative=True)
rho = _sym("rho", "ρ", r"\rho", positive=True)
alpha = _sym("alpha", "αₜ", r"\alpha_t", positive=True)
lam = _sym("lam", "λ", r"\lambda", positive=True)
kappa = _sym("kappa", "κₜ", r"\kappa_t", positive=True)
cost = _sym("cost", "cₜ", "c_t", positive=True)  # bits per unit of log2(s+1) in a round (n·d)
weight_sum = _sym("weight_sum", "Aₜ", "A_t", nonnegative=True)  # (L/2)·Σ_i p_i² d R_{t,i}²/4
t = _sym("t", "t", "t", integer=True, nonnegative=True)
j = _sym("j", "j", "j", integer=True, nonnegative=True)
k = _sym("k", "k", "k", integer=True, nonnegative=True)
theta = _sym("theta", "θ", r"\theta", nonnegative=True)
shrink = _sym("shrink", "r", "r", positive=True)  # per-round range factor R_{t+1}/R_t

# --- one coordinate of the stochastic uniform quantizer -------------------------------------------------
x = _sym("x", "x", "x", real=True)
lower = _sym("lower", "ℓ", r"\ell", real=True)
upper = _sym("upper", "u", "u", real=True)
step = _sym("step", "δ", r"\delta", positive=True)  # cell width u − ℓ = R/s
norm2 = _sym("norm2", "‖x‖²", r"\|x\|^{2}", nonnegative=True)

# --- per-round expectations the lemmas relate --------------------------------------------------------------
G2 = _sym("G2", "E‖∇f(wₜ)‖²", r"\mathbb{E}\|\nabla f(w_t)\|^{2}", nonnegative=True)
H2 = _sym("H2", "E‖hₜ‖²", r"\mathbb{E}\|h_t\|^{2}", nonnegative=True)
dev2 = _sym("dev2", "E‖∇f(wₜ)−hₜ‖²", r"\mathbb{E}\|\nabla f(w_t)-h_t\|^{2}", nonnegative=True)
xi2 = _sym("xi2", "E‖ξₜ‖²", r"\mathbb{E}\|\xi_t\|^{2}", nonnegative=True)
drift = _sym("drift", "Dₜ", "D_t", nonnegative=True)  # Σ_k E‖w_{t,i}^k − w_t‖² (any client)
qvar = _sym("qvar", "Vₜ", "V_t", nonnegative=True)  # Σ_i p_i² E‖Q(Δ_{t,i}) − Δ_{t,i}‖²
f_t = _sym("f_t", "E f(wₜ)", r"\mathbb{E} f(w_t)", real=True)
f_next = _sym("f_next", "E f(wₜ₊₁)", r"\mathbb{E} f(w_{t+1})", real=True)
f_bar = _sym("f_bar", "E f(w̄ₜ₊₁)", r"\mathbb{E} f(\bar w_{t+1})", real=True)
err = _sym("err", "eₜ", "e_t", nonnegative=True)  # E f(w_t) − f*
avg_grad2 = _sym(
    "avg_grad2", "(1/T)Σₜ E‖∇f(wₜ)‖²", r"\frac{1}{T}\sum_{t=0}^{T-1}\mathbb{E}\|\nabla f(w_t)\|^{2}"
)
final_gap = _sym("final_gap", "E f(w_T) − f*", r"\mathbb{E} f(w_T)-f^{*}")
quant_sum = _sym("quant_sum", "Σₜ αₜ Vₜ", r"\sum_{t=0}^{T-1}\alpha_t V_t", nonnegative=True)

# --- root-mean-square quantities of the one-round inequality (theory/drift.py, theory/fedavg.py) --------------
grad_rms = _sym("grad_rms", "Gₜ", "G_t", nonnegative=True)  # sqrt(E‖∇f(w_t)‖²)
zeta_i = _sym("zeta_i", "ζᵢ", r"\zeta_i", nonnegative=True)  # sqrt(E‖∇f_i(w_t) − ∇f(w_t)‖²)
phi_norm2 = _sym("phi_norm2", "‖φ‖²", r"\|\varphi\|^{2}", nonnegative=True)
psi_norm2 = _sym("psi_norm2", "‖ψ‖²", r"\|\psi\|^{2}", nonnegative=True)
delta_g = _sym("delta_g", "δ_G", r"\delta_G", nonnegative=True)
delta_x = _sym("delta_x", "δ_X", r"\delta_X", nonnegative=True)
noise_rms = _sym("noise_rms", "s_ξ", r"s_{\xi}", nonnegative=True)  # sqrt(E‖ξ_t‖²) ≤ σ sqrt(‖p‖²/τ)
coupling = _sym("coupling", "bₜ", "b_t", nonnegative=True)  # the coefficient of G_t in the one-round inequality
noise_const = _sym("noise_const", "vₜ", "v_t", nonnegative=True)  # its constant part
split = _sym("split", "ε", r"\varepsilon", positive=True)  # Young's split of b·G (PL criterion)
sampled = _sym("sampled", "n", "n", positive=True, integer=True)  # clients per round (n of N)
sampling = _sym("sampling", "ω", r"\omega", nonnegative=True)  # (N − n)/(n(N − 1))
agg_err = _sym("agg_err_rms", "Eₜ", "E_t", nonnegative=True)  # sqrt(E‖Σ_i p_i (Q(x_i) − x_i)‖²)
last_k = _sym("last_k", "K", "K", positive=True, integer=True)  # the last K iterates averaged
