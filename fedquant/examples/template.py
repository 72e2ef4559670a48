"""Template for a new example: copy this file, fill it in, and add its ``run`` to ``EXAMPLES``.

An example turns one claim of the theory into one number measured by the code and one number the claim
predicts for it, returned as an :class:`~fedquant.examples.agreement.Agreement`. The test
``tests/test_examples.py`` runs every function of ``fedquant.examples.EXAMPLES`` and asserts
``agreement.holds`` at the tolerance the example states, never a looser one of its own. This module is not in
``EXAMPLES``: its ``run`` raises NotImplementedError.

The rules, one by one:

1. **One file, one function.** ``fedquant/examples/<claim>.py`` exposes ``run(...) -> Agreement``. Every
   argument is keyword-with-default, and the defaults make it fast (under about 5 s on one thread) and
   deterministic: every random draw comes from a fixed seed, through ``fedquant.validation.rng``
   (``numpy_rng(seed, stream=...)``, ``torch_generator(seed, round, client, stream)``), never from global
   state. Same seed, same numbers.

2. **Both numbers are computed.** ``measured`` comes from running the code (a quantizer, a codec, a solver,
   a training step); ``predicted`` comes from the theory's formula, evaluated through
   ``fedquant.theory.numeric`` (``numeric.names()`` lists them, ``numeric.arguments(name)`` and
   ``numeric.source(name)`` show them) rather than retyped. Neither is ever written in as a constant.
   Import only public names of ``fedquant.theory``, ``fedquant.theory.numeric``, ``fedquant.optimizer``,
   ``fedquant.validation.compression`` and ``fedquant.validation.rng``.

3. **Kind.** ``"equal"`` for an identity (|measured − predicted| ≤ τ·|predicted|), ``"bound"`` for an upper
   bound (measured ≤ predicted·(1 + τ)). For a bound, ``ratio`` = measured/predicted is the slack: say in the
   docstring what ratio to expect and why (e.g. on which input the bound is attained).

4. **Tolerance.** A module constant ``TOLERANCE`` (relative), passed unchanged to the Agreement; the test
   checks that ``agreement.tolerance == module.TOLERANCE``. It is derived, not fitted:

   - exact integer or combinatorial claims (byte counts, signs): 0;
   - floating-point identities: the precision the computation can reach, with the error propagation
     written out (which root search stops where, how that error reaches the compared number);
   - asymptotic claims: the next term of the expansion, bounded on the example's inputs;
   - Monte Carlo claims: Z standard errors of the mean (Z = 4 is customary), with the standard error
     computed from the law when it is known (better than from the draws), plus any known bias
     (e.g. the quantizer's 16-bit dither resolution) and float32 rounding;
   - bounds whose slack is large: 0, when the Monte Carlo error is far inside the slack (say so, with the
     numbers).

   When the tolerance covers an allowance that depends on the arguments (standard errors, the asymptotic
   term), ``run`` computes that allowance before measuring and raises ValueError if the caller's arguments
   make it exceed ``TOLERANCE``: the stated tolerance then stays honest for every input ``run`` accepts.

5. **Docstring.** The module docstring states the claim and its formula. ``run``'s docstring has, in
   this order: the claim; the formula (with the ``numeric`` function names); the setting (data, seeds,
   what measured and predicted are exactly); a line starting ``Source:`` naming the theory step and the
   file or section it comes from (``theory/<file>.py``, docs/design.md §N, or a paper); and a paragraph
   starting ``Tolerance:`` that justifies the number.

6. **The note.** ``Agreement.note`` carries what the two numbers alone do not say: a per-item count behind a
   total, a standard error, a diagnostic ratio. It never decides ``holds``.

7. **Register it.** Import the module in ``fedquant/examples/__init__.py``, add one line to the catalogue
   in its docstring and its ``run`` to ``EXAMPLES``. ``tests/test_examples.py`` picks it up.
"""

from __future__ import annotations

from fedquant.examples.agreement import Agreement

#: relative tolerance of the agreement; replace it with the derived value and justify it in run's docstring
TOLERANCE = 0.0


def run(seed: int = 0) -> Agreement:
    """<One sentence: what is measured against what, and whether it is an equality or a bound.>

    Claim: <the statement, in words>

        <the formula>                  (``numeric.<function>``)

    Setting: <the data or problem, its size, where every random draw comes from (seed, stream)>;
    measured = <what the code computes>; predicted = <what the formula gives>.

    Source: <theory/<file>.py (step ``<key>``), docs/design.md §N, or a paper: authors, venue, year, Sec./Lemma>.

    Tolerance: <the value, and why it is that value: its derivation from the error sources above>.
    """
    raise NotImplementedError(
        "template: copy fedquant/examples/template.py to a new file, compute measured and predicted, and return "
        "Agreement(claim=..., measured=..., predicted=..., tolerance=TOLERANCE, kind='equal' or 'bound')"
    )
