"""The range the quantization term sees: a p²-weighted RMS over clients, then a size-weighted RMS over blocks.

The bound's term for one round is Σ_i p_i² Σ_k d_k R_{i,k}²/(4s²) (theory/bound.py). At one level s it equals
‖p‖² d R̄²/(4s²) with

    R̄_k² = Σ_i p_i² R_{i,k}² / Σ_i p_i²      (per block k)
    R̄²   = Σ_k d_k R̄_k² / Σ_k d_k            (the whole update, d = Σ_k d_k),

so R̄ is the one range that, shared by every client and block, gives the same term. Plots, traces and the
planner's forecasts use it.
"""

from __future__ import annotations

import numpy as np


def block_mean_square(weights: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """R̄_k² = Σ_i p_i² R_{i,k}² / Σ_i p_i² over the client axis (−2) of ranges (..., N, K)."""
    p2 = np.asarray(weights, dtype=np.float64) ** 2
    r = np.asarray(ranges, dtype=np.float64)
    return np.sum(p2[:, None] * r**2, axis=-2) / np.sum(p2)


def block_range_rms(weights: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """R̄_k, one per block, for ranges (..., N, K)."""
    return np.sqrt(block_mean_square(weights, ranges))


def range_rms(weights: np.ndarray, ranges: np.ndarray, block_sizes: np.ndarray) -> np.ndarray:
    """R̄ = sqrt(Σ_i p_i² Σ_k d_k R_{i,k}² / (Σ_i p_i² · Σ_k d_k)) for ranges (..., N, K), blocks of sizes d_k
    (the same as sqrt(Σ_k d_k R̄_k² / Σ_k d_k), summed in one pass)."""
    p2 = np.asarray(weights, dtype=np.float64) ** 2
    d = np.asarray(block_sizes)
    r = np.asarray(ranges, dtype=np.float64)
    return np.sqrt(np.sum(p2[:, None] * d[None, :] * r**2, axis=(-2, -1)) / (np.sum(p2) * d.sum()))
