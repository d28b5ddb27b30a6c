"""numpy's legacy ``RandomState.standard_normal`` stream, compiled, for the ear model's noise.

pyclarity draws the IHC threshold noise with ``np.random.standard_normal((32, n))`` (twice per
pair) from the global legacy generator, and HASPI's later cepstral noise comes from the same
stream. To reproduce scores for a seed, every one of those draws must be replayed, and numpy's
legacy path is slow (a call through the bit generator for every 32-bit word, one ``log`` per
pair).

This module runs the same algorithm in numba kernels: MT19937 (Matsumoto & Nishimura 1998,
the state ``RandomState.get_state()`` exposes) with the legacy 53-bit doubles and the polar
Box-Muller method with its cached second value (numpy ``legacy_gauss``). It continues from a
``RandomState``'s state and leaves the generator exactly where numpy would, so later numpy
draws are in step. The values can be added, scaled, straight into a target array (no
full-size intermediate), or only skipped (HASPI needs the stream position, not the noise).
The values equal numpy's bit for bit (same operations, same C library ``log`` and ``sqrt``).

What makes it faster: the 624 output words of each MT19937 block are tempered in one
vectorised pass, and a block's tries are computed in one vectorised loop (indexed from a
slice of the block, or numba compiles scalar loads); the 21 % of rejected tries are
counted without a branch, and the kept ones compacted without one. The kept stream runs
in rounds small enough for the L2 cache. Speed against ``RandomState.standard_normal``:
``bench/legacy_rng_speed.py``.
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


@nb.njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _try_at(words, base):  # type: ignore[no-untyped-def]
    """The polar-method try made of ``words[base : base + 4]``: ``(x1, x2, r2)``."""
    u1 = (np.int64(words[base] >> np.uint32(5)) * 67108864.0
          + np.int64(words[base + 1] >> np.uint32(6))) / 9007199254740992.0
    u2 = (np.int64(words[base + 2] >> np.uint32(5)) * 67108864.0
          + np.int64(words[base + 3] >> np.uint32(6))) / 9007199254740992.0
    x1 = 2.0 * u1 - 1.0
    x2 = 2.0 * u2 - 1.0
    return x1, x2, x1 * x1 + x2 * x2


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _try_across(key, words, pos):  # type: ignore[no-untyped-def]
    """A try whose words run past the current block (the block is regenerated on the way):
    ``(x1, x2, r2, pos)``."""
    u1, pos = _next_double(key, words, pos)
    u2, pos = _next_double(key, words, pos)
    x1 = 2.0 * u1 - 1.0
    x2 = 2.0 * u2 - 1.0
    return x1, x2, x1 * x1 + x2 * x2, pos


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _skip_pairs(key, pos, pairs):  # type: ignore[no-untyped-def]
    """Advance past ``pairs`` accepted polar-method tries; returns ``(pos, x1, r2)`` of the
    last accepted one.

    The tries that lie whole inside the current 624-word block are only counted, in a loop
    with no branch on the acceptance (a rejected try is unpredictable: 21 %), which
    vectorises; the block holding the last accepted try is walked try by try, and a try that
    straddles two blocks is drawn through :func:`_next_double`.

    (A single try function that also handled the block boundary, shared with
    :func:`_collect_pairs`, made both kernels 2-4x slower (``bench/legacy_rng_speed.py``), so
    the common case, :func:`_try_at`, is separate from :func:`_try_across`.)"""
    words = np.empty(_N, np.uint32)
    _temper(key, words)
    accepted = 0
    last_x1 = 0.0
    last_r2 = 0.5
    while accepted < pairs:
        if pos > _N - 4:
            x1, x2, r2, pos = _try_across(key, words, pos)
            if r2 < 1.0 and r2 != 0.0:
                accepted += 1
                last_x1, last_r2 = x1, r2
            continue
        count = (_N - pos) // 4
        block = words[pos : pos + 4 * count]  # see _block_tries
        found = 0
        for j in range(count):  # count only
            x1, x2, r2 = _try_at(block, 4 * j)
            found += (r2 < 1.0) & (r2 != 0.0)
        if accepted + found < pairs:
            accepted += found
            pos += 4 * count
            continue
        for j in range(count):  # the last accepted try is in here
            x1, x2, r2 = _try_at(words, pos + 4 * j)
            if r2 < 1.0 and r2 != 0.0:
                accepted += 1
                if accepted == pairs:
                    last_x1, last_r2 = x1, r2
                    pos += 4 * j + 4
                    break
    return pos, last_x1, last_r2


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _block_tries(words, pos, x1s, x2s, r2s):  # type: ignore[no-untyped-def]
    """All the whole tries left in the block from ``pos`` (one loop with no branch, which
    vectorises); returns their count."""
    count = (_N - pos) // 4
    block = words[pos : pos + 4 * count]  # indexed from a slice's start, the loads vectorise
    for j in range(count):
        x1s[j], x2s[j], r2s[j] = _try_at(block, 4 * j)
    return count


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _collect_pairs(key, words, pos, x1s, x2s, r2s, pairs):  # type: ignore[no-untyped-def]
    """The next ``pairs`` accepted tries into ``x1s, x2s, r2s``; ``words`` holds the
    tempered words of ``key``'s current block. Returns ``pos``.

    The tries of a block are computed together (:func:`_block_tries`), then the accepted
    ones are compacted with no branch on the acceptance (21 % rejected, unpredictable);
    a try that straddles two blocks is drawn through :func:`_try_across`."""
    t1 = np.empty(_N // 4)
    t2 = np.empty(_N // 4)
    tr = np.empty(_N // 4)
    accepted = 0
    while accepted < pairs:
        if pos > _N - 4:
            x1, x2, r2, pos = _try_across(key, words, pos)
            x1s[accepted] = x1
            x2s[accepted] = x2
            r2s[accepted] = r2
            accepted += (r2 < 1.0) & (r2 != 0.0)
            continue
        count = _block_tries(words, pos, t1, t2, tr)
        used = count
        for j in range(count):
            r2 = tr[j]
            x1s[accepted] = t1[j]
            x2s[accepted] = t2[j]
            r2s[accepted] = r2
            accepted += (r2 < 1.0) & (r2 != 0.0)
            if accepted == pairs:
                used = j + 1
                break
        pos += 4 * used
    return pos


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _pair_values(x1s, x2s, r2s, pairs, values):  # type: ignore[no-untyped-def]
    """``values[2j], values[2j + 1] = f x2, f x1`` with ``f = sqrt(-2 log r2 / r2)``: numpy's
    order within a pair. A straight loop of scalar ``log`` calls, pipelined (splitting off
    the division and square root into a vectorised loop measured slower)."""
    for j in range(pairs):
        factor = math.sqrt(-2.0 * math.log(r2s[j]) / r2s[j])
        values[2 * j] = factor * x2s[j]
        values[2 * j + 1] = factor * x1s[j]


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _add_values(values, count, target, start, length, scale):  # type: ignore[no-untyped-def]
    """``target`` (rows of ``length``, C order from flat position ``start``) ``+= scale *
    values[:count]``, a row segment at a time (vectorised)."""
    r = start // length
    col = start - r * length
    k = 0
    while k < count:
        run = min(length - col, count - k)
        row = target[r]
        for t in range(run):
            row[col + t] += scale * values[k + t]
        k += run
        col = 0
        r += 1


#: accepted pairs per round of the kept stream: its buffers (5 x 8 bytes per pair) stay in
#: the L2 cache (rounds of 65 536 pairs spilled it and ran slower: ``bench/legacy_rng_speed.py``)
_ROUND = 2048


@nb.njit(cache=True, nogil=True, boundscheck=False)
def _add_rounds(key, pos, target, flat, count, length, scale):  # type: ignore[no-untyped-def]
    """Values ``flat .. count - 1`` of the stream added, scaled, to ``target`` (C order, rows
    of ``length``), in rounds of :data:`_ROUND` pairs. Returns ``(pos, last)``: ``last`` is
    the final pair's second value (numpy's cached one when ``count - flat`` is odd)."""
    words = np.empty(_N, np.uint32)
    _temper(key, words)
    size = min(_ROUND, (count - flat + 1) // 2 + 1)
    x1s = np.empty(size)
    x2s = np.empty(size)
    r2s = np.empty(size)
    values = np.empty(2 * size)
    last = 0.0
    while flat < count:
        pairs = min(size, (count - flat + 1) // 2)
        pos = _collect_pairs(key, words, pos, x1s, x2s, r2s, pairs)
        _pair_values(x1s, x2s, r2s, pairs, values)
        _add_values(values, min(2 * pairs, count - flat), target, flat, length, scale)
        last = values[2 * pairs - 1]
        flat += 2 * pairs
    return pos, last


def _legacy_state(rng: np.random.RandomState) -> tuple[np.ndarray, int, int, float]:
    """``(key, pos, has_gauss, gauss)`` of a legacy generator; ``key`` is a private copy."""
    state = rng.get_state(legacy=True)
    if not isinstance(state, tuple) or state[0] != "MT19937":
        raise ValueError("a legacy MT19937 RandomState is needed")
    _, key, pos, has_gauss, gauss = state
    return np.array(key, dtype=np.uint32), int(pos), int(has_gauss), float(gauss)


def _add(rng: np.random.RandomState, target: np.ndarray, rows: int, length: int,
         scale: float) -> None:
    """Kept values, in rounds: the accepted tries drawn and compacted, turned into values
    (the C library's scalar ``log``, as numpy: numpy's vectorised ``log`` would save ~3 ns
    per value but differs by an ulp on ~0.1 % of them), and added to ``target`` row segment
    by row segment."""
    key, pos, has_gauss, gauss = _legacy_state(rng)
    count = rows * length
    flat = 0
    if has_gauss and count > 0:
        target[0, 0] += scale * gauss
        has_gauss, gauss, flat = 0, 0.0, 1
    if flat < count:
        pos, last = _add_rounds(key, int(pos), target, flat, count, length, float(scale))
        if (count - flat) % 2:  # an odd count: the last pair's second value stays cached
            has_gauss, gauss = 1, float(last)
    rng.set_state(("MT19937", key, pos, int(has_gauss), float(gauss)))


def _skip(rng: np.random.RandomState, count: int) -> None:
    key, pos, has_gauss, gauss = _legacy_state(rng)
    if has_gauss:
        count -= 1
        has_gauss, gauss = 0, 0.0
    if count > 0:
        pairs = (count + 1) // 2
        pos, x1, r2 = _skip_pairs(key, int(pos), pairs)
        if count % 2:  # the last pair's first value stays cached, as numpy leaves it
            has_gauss, gauss = 1, math.sqrt(-2.0 * math.log(r2) / r2) * x1
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
    _add(rng, target, target.shape[0], int(length), float(scale))


def skip_standard_normal(rng: np.random.RandomState, rows: int, length: int) -> None:
    """Advance ``rng`` past ``rng.standard_normal((rows, length))`` without keeping values."""
    if rows * length > 0:
        _skip(rng, int(rows) * int(length))
