"""numpy's legacy ``RandomState.standard_normal`` stream, compiled, for the ear model's noise.

pyclarity draws the IHC threshold noise with ``np.random.standard_normal((32, n))`` (twice per
pair) from the global legacy generator, and HASPI's later cepstral noise comes from the same
stream. To reproduce scores for a seed, every one of those draws must be replayed, and numpy's
legacy path costs 15-25 ns per value here (a call through the bit generator for every 32-bit
word, one ``log`` per pair), about 0.1-0.15 s per 4 s pair.

This module runs the same algorithm in a numba kernel: MT19937 (Matsumoto & Nishimura 1998,
the state ``RandomState.get_state()`` exposes) with the legacy 53-bit doubles and the polar
Box-Muller method with its cached second value (numpy ``legacy_gauss``). It continues from a
``RandomState``'s state and leaves the generator exactly where numpy would, so later numpy
draws are in step. The values can be added, scaled, straight into a target array (no
intermediate array), or only skipped (HASPI needs the stream position, not the noise).
Values equal numpy's to the last bit or within one ulp (``math.log`` here against the C
library's ``log`` in numpy; the test checks 1e-15 relative).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["add_standard_normal", "skip_standard_normal"]

_N = 624
_M = 397


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _twist(key):  # type: ignore[no-untyped-def]
    """Regenerate the 624-word MT19937 state in place."""
    upper = np.uint32(0x80000000)
    lower = np.uint32(0x7FFFFFFF)
    matrix = np.uint32(0x9908B0DF)
    one = np.uint32(1)
    for i in range(_N - _M):
        y = (key[i] & upper) | (key[i + 1] & lower)
        key[i] = key[i + _M] ^ (y >> one) ^ (matrix * (y & one))
    for i in range(_N - _M, _N - 1):
        y = (key[i] & upper) | (key[i + 1] & lower)
        key[i] = key[i + _M - _N] ^ (y >> one) ^ (matrix * (y & one))
    y = (key[_N - 1] & upper) | (key[0] & lower)
    key[_N - 1] = key[_M - 1] ^ (y >> one) ^ (matrix * (y & one))


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _temper(key, out):  # type: ignore[no-untyped-def]
    """The 624 tempered output words of the current state (vectorised; the stream reads them
    from ``out``, which is 8x faster than tempering word by word)."""
    for i in range(_N):
        y = key[i]
        y ^= y >> np.uint32(11)
        y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
        y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
        y ^= y >> np.uint32(18)
        out[i] = y


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _next_double(key, words, pos):  # type: ignore[no-untyped-def]
    """numpy's ``mt19937_next_double``: two words -> a 53-bit double in [0, 1)."""
    if pos >= _N:
        _twist(key)
        _temper(key, words)
        pos = 0
    high = words[pos]
    pos += 1
    if pos >= _N:
        _twist(key)
        _temper(key, words)
        pos = 0
    low = words[pos]
    a = np.int64(high >> np.uint32(5))
    b = np.int64(low >> np.uint32(6))
    return (a * 67108864.0 + b) / 9007199254740992.0, pos + 1


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _gauss_stream(key, pos, has_gauss, gauss, target, rows, length, scale,
                  keep):  # type: ignore[no-untyped-def]
    """Draw ``rows * length`` values in C order (``standard_normal((rows, length))``); when
    ``keep``, add ``scale * value`` to ``target[r, t]`` for ``t < length``. Returns the new
    ``(pos, has_gauss, gauss)``; ``key`` is updated in place."""
    words = np.empty(_N, np.uint32)
    _temper(key, words)
    for r in range(rows):
        for t in range(length):
            if has_gauss:
                value = gauss
                has_gauss = False
                gauss = 0.0
            else:
                while True:
                    if pos <= _N - 4:  # the common case: four words left in the block
                        u1 = (np.int64(words[pos] >> np.uint32(5)) * 67108864.0
                              + np.int64(words[pos + 1] >> np.uint32(6))) / 9007199254740992.0
                        u2 = (np.int64(words[pos + 2] >> np.uint32(5)) * 67108864.0
                              + np.int64(words[pos + 3] >> np.uint32(6))) / 9007199254740992.0
                        pos += 4
                    else:
                        u1, pos = _next_double(key, words, pos)
                        u2, pos = _next_double(key, words, pos)
                    x1 = 2.0 * u1 - 1.0
                    x2 = 2.0 * u2 - 1.0
                    r2 = x1 * x1 + x2 * x2
                    if r2 < 1.0 and r2 != 0.0:
                        break
                if keep or (r == rows - 1 and t == length - 1):
                    # kept values, or the last draw of a skip whose partner stays cached
                    factor = math.sqrt(-2.0 * math.log(r2) / r2)
                    gauss = factor * x1
                    value = factor * x2
                else:  # skipped: neither value is ever read
                    gauss = 0.0
                    value = 0.0
                has_gauss = True
            if keep:
                target[r, t] += scale * value
    return pos, has_gauss, gauss


def _run(rng: np.random.RandomState, target: np.ndarray, rows: int, length: int,
         scale: float, keep: bool) -> None:
    name, key, pos, has_gauss, gauss = rng.get_state(legacy=True)
    if name != "MT19937":
        raise ValueError(f"a legacy MT19937 RandomState is needed, not {name}")
    key = np.array(key, dtype=np.uint32)  # a private copy the kernel advances
    pos, has_gauss, gauss = _gauss_stream(key, int(pos), bool(has_gauss), float(gauss), target,
                                          rows, length, float(scale), keep)
    rng.set_state(("MT19937", key, int(pos), int(has_gauss), float(gauss)))


def add_standard_normal(rng: np.random.RandomState, target: np.ndarray, length: int,
                        scale: float = 1.0) -> None:
    """``target[:, :length] += scale * rng.standard_normal((target.shape[0], length))``.

    Args:
        rng: the legacy generator, advanced exactly as numpy's call would advance it.
        target: ``[rows, T]`` float64, C-contiguous rows (``T >= length``), updated in place.
        length: values per row.
        scale: factor on the draws.
    """
    if target.dtype != np.float64 or target.ndim != 2 or target.strides[-1] != 8:
        raise ValueError("target must be a 2-D float64 array with contiguous rows")
    if length > target.shape[1]:
        raise ValueError("length exceeds the target's rows")
    _run(rng, target, target.shape[0], int(length), scale, True)


def skip_standard_normal(rng: np.random.RandomState, rows: int, length: int) -> None:
    """Advance ``rng`` past ``rng.standard_normal((rows, length))`` without keeping values."""
    if rows * length == 0:
        return
    _run(rng, np.zeros((1, 1)), int(rows), int(length), 0.0, False)
