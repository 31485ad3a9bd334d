"""Counter-based randomness for the noise engine: every draw is a pure function of (example key, stream, counter).

An example's 64-bit key K comes from `noisebench.noise.engine.example_keys` (a blake2b hash of seed, noise, rate,
options and the example key). From it, stream s is the splitmix64 sequence started at `mix64(K XOR s)`:

    draw(K, s, c) = mix64(mix64(K ^ s) + (c + 1) * 0x9E3779B97F4A7C15)      (uint64 arithmetic, wrapping)

where `mix64` is splitmix64's finaliser. Because a draw depends only on its (K, s, c), a whole batch is evaluated at
once with numpy and the result for one example never depends on the others. Conversions:

    unit(x)      = (x >> 11) * 2**-53                      a float in [0, 1)
    below(x, n)  = ((x >> 32) * n) >> 32                   an integer in [0, n), for n < 2**32 (exact, no floats)

Streams used by the noises (documented once here so no two uses collide):
    STREAM_COUNT  (1): counter 0 is the u of the stochastic rounding k = floor(rate * n + u).
    STREAM_PICK   (2): the index draws that choose which units are edited (`choose_distinct`).
    STREAM_VALUE  (3): the value of an edit (replacement character, chosen alternative), counter = unit index.
    STREAM_PICK2  (4): a second, independent choice (swap: the coin for a word's pairing offset on ties;
                       phi: insertion points).
    STREAM_VALUE2 (5): values for that second choice (phi: the inserted placeholder's type and date).
"""

from __future__ import annotations

import numpy as np

STREAM_COUNT = 1
STREAM_PICK = 2
STREAM_VALUE = 3
STREAM_PICK2 = 4
STREAM_VALUE2 = 5

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32, _S11 = (np.uint64(s) for s in (30, 27, 31, 32, 11))


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise on a uint64 array (a bijection of 64-bit integers)."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def stream(keys: np.ndarray, s: int) -> np.ndarray:
    """Start state of stream `s` for each example key: mix64(K ^ s). Shape (B,) uint64."""
    return mix64(np.asarray(keys, dtype=np.uint64) ^ np.uint64(s))


def draw(states: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """The `counters`-th outputs (0-based) of the splitmix64 sequences starting at `states`; broadcast, uint64."""
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return mix64(np.asarray(states, dtype=np.uint64) + (c + np.uint64(1)) * _GAMMA)


def unit(x: np.ndarray) -> np.ndarray:
    """uint64 draws → floats in [0, 1) with 53 random bits."""
    return (x >> _S11).astype(np.float64) * (1.0 / 2.0**53)


def below(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """uint64 draws → integers in [0, n) by multiply-shift (exact integer arithmetic; needs n < 2**32). int64."""
    n = np.asarray(n, dtype=np.uint64)
    return (((x >> _S32) * n) >> _S32).astype(np.int64)


def stochastic_counts(keys: np.ndarray, rate: float, n: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """k = floor(rate * scale * n + u), u = unit(draw(stream(K, STREAM_COUNT), 0)), clipped to [0, n].

    Exact in expectation (E[k] = rate * scale * n) and never off by one unit or more. int64, shape (B,)."""
    n = np.asarray(n, dtype=np.int64)
    u = unit(draw(stream(keys, STREAM_COUNT), np.zeros(len(n), dtype=np.uint64)))
    k = np.floor(rate * scale * n.astype(np.float64) + u).astype(np.int64)
    return np.clip(k, 0, n)


def _draw_budget(n: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Draws that almost always yield m distinct values out of n (coupon collector, with a wide margin)."""
    nf, mf = n.astype(np.float64), m.astype(np.float64)
    expected = nf * np.log((nf + 0.5) / (nf - mf + 0.5))
    return np.maximum(m, np.ceil(1.05 * expected + 2.5 * np.sqrt(expected) + 2.0).astype(np.int64))


def _first_distinct(states: np.ndarray, n: np.ndarray, m: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Global unit ids (base[i] + index) of the first m[i] distinct values of below(draw(states[i], c), n[i]),
    c = 0, 1, 2, ... for every text i with m[i] > 0. Batched: one numpy pass per round; a text whose budget of
    draws fell short is redone with twice the budget (its sequence is fixed, so the answer does not change)."""
    todo = np.flatnonzero(m > 0)
    budget = _draw_budget(n[todo], m[todo])
    found: list[np.ndarray] = []
    never = np.iinfo(np.int64).max
    first_seen = np.full(int(base[-1] + n[-1]) if len(n) else 0, never, dtype=np.int64)
    while len(todo):
        d = budget
        total = int(d.sum())
        counter = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(d) - d, d)
        values = below(draw(np.repeat(states[todo], d), counter), np.repeat(n[todo], d))
        gid = np.repeat(base[todo], d) + values
        order = np.arange(total, dtype=np.int64)  # draw order: text-major, then counter
        np.minimum.at(first_seen, gid, order)
        fresh = first_seen[gid] == order  # the first draw of each value (a repeat is skipped)
        first_seen[gid] = never  # reset for the next round
        got = np.add.reduceat(fresh, np.cumsum(d) - d, dtype=np.int64)
        rank = np.cumsum(fresh) - 1 - np.repeat(np.cumsum(got) - got, d)  # rank among its text's fresh draws
        done = got >= m[todo]
        keep = fresh & (rank < np.repeat(np.where(done, m[todo], 0), d))
        found.append(gid[keep])
        todo, budget = todo[~done], budget[~done] * 2
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def choose_distinct(states: np.ndarray, n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Choose k[i] distinct units out of n[i], uniformly, for every text i at once.

    states: (B,) uint64 stream states (use STREAM_PICK or STREAM_PICK2); n, k: (B,) int, 0 <= k <= n.
    Returns a bool mask of shape (sum(n),) over the texts' units laid end to end (text-major).

    Rule (uniform over k-subsets): if k <= n/2 the chosen units are the first k distinct values of the index
    sequence below(draw(state, c), n), c = 0, 1, ...; otherwise all units except the first n - k distinct values.
    """
    n = np.asarray(n, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    base = np.cumsum(n) - n
    flip = 2 * k > n
    m = np.where(flip, n - k, k)
    mask = np.zeros(int(n.sum()), dtype=bool)
    mask[_first_distinct(np.asarray(states, dtype=np.uint64), n, m, base)] = True
    if flip.any():
        mask ^= np.repeat(flip, n)
    return mask
