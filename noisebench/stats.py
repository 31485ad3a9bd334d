"""Statistics for noisebench: small pure functions over 1-D arrays, each returning a value object.

Conventions (every function follows them):
- Inputs are 1-D sequences of finite floats, one value per seed (or per example for McNemar). Shapes are checked:
  a 2-D array, a NaN, or two paired arrays of different lengths raise ValueError.
- Units are whatever the caller passes (the report passes fractions in [0, 1]); nothing is rescaled here.
- `level` is the two-sided coverage in (0, 1), e.g. 0.95.
- With fewer than two values there is no interval: `low` and `high` are None and `sd` is None.
- Randomness (the bootstrap only) comes from an explicit `np.random.Generator` passed in; `bootstrap_rng(key)`
  builds one from `DEFAULT_BOOTSTRAP_SEED` and a stable string key (SHA-256, never Python's hash()), so an
  estimate does not depend on the order in which conditions are visited or on the process.

Intervals:
- "t": mean ± t_{(1+level)/2, n-1} · sd/√n, sd with n-1 in the denominator (Student's t over seeds).
- "bootstrap": percentile bootstrap of the mean: `resamples` resamples of n values drawn with replacement,
  interval = the (1-level)/2 and (1+level)/2 quantiles (numpy's default linear interpolation) of the resampled means.
Drops are paired: drop_s = clean_s - noisy_s for each seed s, then the interval of the mean of those differences.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

METHODS = ("t", "bootstrap")
DEFAULT_BOOTSTRAP_SEED = 20240917
DEFAULT_RESAMPLES = 10_000
# McNemar: below this many discordant pairs the exact binomial test is used, at or above it the chi-square test
# with continuity correction (the usual rule of thumb: the chi-square approximation is poor for small b + c).
MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval. low/high are None when n < 2 (no interval can be computed)."""

    point: float
    low: float | None
    high: float | None
    level: float
    method: str
    n: int
    sd: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def to_dict(self) -> dict:
        return {"point": self.point, "low": self.low, "high": self.high, "level": self.level, "method": self.method,
                "n": self.n, "sd": self.sd}


@dataclass(frozen=True)
class Comparison:
    """Welch's comparison of two independent samples: diff = mean(a) - mean(b).

    `diff` carries the Welch t interval (method "welch", n = the smaller sample size); `se`, `t`, `df` and `p` are
    None when either sample has fewer than two values; `t`, `df`, `p` are also None when both samples have zero
    variance (the statistic is 0/0, as in scipy).
    """

    diff: Estimate
    se: float | None
    t: float | None
    df: float | None
    p: float | None


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on paired correctness. b = A right & B wrong, c = A wrong & B right (discordant counts).

    method "exact-binomial": p = min(1, 2·P[Binomial(b+c, 1/2) ≤ min(b, c)]), statistic = min(b, c).
    method "chi2-cc": statistic = (|b - c| - 1)² / (b + c) on 1 degree of freedom, p = its upper tail.
    """

    b: int
    c: int
    statistic: float
    p: float
    method: str


def _vector(values: Sequence[float] | np.ndarray, name: str) -> list[float]:
    """A checked 1-D sequence of finite floats, as a Python list.

    Plain floats on purpose: a report makes ~10^4 calls on ~5 values each, where numpy's per-call overhead would
    dominate; math.fsum sums are exactly rounded.
    """
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
        xs = values.astype(float).tolist()
    else:
        try:
            xs = [float(v) for v in values]
        except TypeError:
            raise ValueError(f"{name} must be 1-D, got shape {np.shape(values)}") from None
    if not all(map(math.isfinite, xs)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return xs


def _mean_sd(xs: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1 denominator; None when n < 2) of a non-empty list."""
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in xs) / (n - 1))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _pair(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, names: str) -> tuple[list, list]:
    x, y = _vector(a, names.split(",")[0]), _vector(b, names.split(",")[1])
    if len(x) != len(y):
        raise ValueError(f"{names} must have the same length, got {len(x)} and {len(y)}")
    return x, y


@lru_cache(maxsize=4096)
def t_quantile(level: float, df: float) -> float:
    """Two-sided Student's t critical value: the (1+level)/2 quantile with `df` degrees of freedom (cached)."""
    from scipy import special  # scipy.special, not scipy.stats: a fifth of the import time

    return float(special.stdtrit(df, (1.0 + level) / 2.0))


def bootstrap_rng(key: str, seed: int = DEFAULT_BOOTSTRAP_SEED) -> np.random.Generator:
    """A generator for one estimate: seeded by (seed, SHA-256 of `key`), independent of visiting order."""
    digest = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return np.random.default_rng([seed, digest])


def mean_ci(
    values: Sequence[float] | np.ndarray,
    level: float = 0.95,
    method: str = "t",
    rng: np.random.Generator | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """Mean of `values` (shape [n]) with a two-sided interval by `method` ("t" or "bootstrap").

    The bootstrap requires `rng` (an explicit np.random.Generator); it is never drawn from global state.
    n == 0 raises ValueError; n == 1 gives the value with no interval.
    """
    xs = _vector(values, "values")
    _check_level(level)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = len(xs)
    if n == 0:
        raise ValueError("values is empty: no estimate")
    point, sd = _mean_sd(xs)
    if sd is None:
        return Estimate(point, None, None, level, method, n, None)
    if method == "t":
        half = t_quantile(level, n - 1) * sd / math.sqrt(n)
        return Estimate(point, point - half, point + half, level, method, n, sd)
    if rng is None:
        raise ValueError("the bootstrap needs an explicit rng (np.random.Generator); see bootstrap_rng()")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    idx = rng.integers(0, n, size=(resamples, n))  # [resamples, n] indices drawn with replacement
    means = np.asarray(xs)[idx].mean(axis=1)  # [resamples]
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Estimate(point, float(low), float(high), level, method, n, sd)


def paired_drop(
    clean: Sequence[float] | np.ndarray,
    noisy: Sequence[float] | np.ndarray,
    level: float = 0.95,
    method: str = "t",
    rng: np.random.Generator | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """Mean drop clean - noisy over paired seeds: clean[i] and noisy[i] must come from the same seed's model.

    Shapes [n] and [n]; the interval is that of the per-seed differences (a paired interval, not a two-sample one).
    """
    c, z = _pair(clean, noisy, "clean,noisy")
    return mean_ci([a - b for a, b in zip(c, z, strict=True)], level=level, method=method, rng=rng, resamples=resamples)


def pair_by_key(clean: dict, noisy: dict) -> tuple[list, np.ndarray, np.ndarray]:
    """Pair two {key: value} maps on their shared keys (e.g. seeds), sorted; unmatched keys are dropped.

    Returns (keys, clean_values [k], noisy_values [k]). Values are never paired across different keys.
    """
    keys = sorted(set(clean) & set(noisy))
    return keys, np.array([clean[k] for k in keys], dtype=float), np.array([noisy[k] for k in keys], dtype=float)


def welch(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, level: float = 0.95
) -> Comparison:
    """Welch's unequal-variance comparison of mean(a) - mean(b) (shapes [n_a], [n_b]; need not match).

    se = √(s_a²/n_a + s_b²/n_b); Welch–Satterthwaite df = se⁴ / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1));
    t = diff/se; two-sided p = 2·P[T_df > |t|]; interval diff ± t_{(1+level)/2, df}·se.
    """
    x, y = _vector(a, "a"), _vector(b, "b")
    _check_level(level)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("welch needs at least one value in each sample")
    (mx, sx), (my, sy) = _mean_sd(x), _mean_sd(y)
    diff = mx - my
    n = min(len(x), len(y))
    if sx is None or sy is None:
        return Comparison(Estimate(diff, None, None, level, "welch", n), None, None, None, None)
    va, vb = sx**2 / len(x), sy**2 / len(y)
    se2 = va + vb
    if se2 == 0.0:  # both samples constant: t and df are 0/0
        return Comparison(Estimate(diff, None, None, level, "welch", n), 0.0, None, None, None)
    se = math.sqrt(se2)
    df = se2**2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    t = diff / se
    from scipy import special

    p = float(2.0 * special.stdtr(df, -abs(t)))  # two-sided tail of Student's t
    half = t_quantile(level, df) * se
    return Comparison(Estimate(diff, diff - half, diff + half, level, "welch", n), se, t, df, p)


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (shape [m], same order as the input).

    Sorted ascending p_(1) ≤ … ≤ p_(m): adj_(i) = max_{j ≤ i} min(1, (m - j + 1)·p_(j)). A hypothesis is rejected at
    family-wise level alpha when its adjusted p ≤ alpha. p-values must lie in [0, 1].
    """
    p = np.asarray(_vector(pvalues, "pvalues"), dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def mcnemar(correct_a: Sequence[bool] | np.ndarray, correct_b: Sequence[bool] | np.ndarray) -> McNemar:
    """McNemar's test of two classifiers on the same examples (shapes [n] and [n], True = prediction correct).

    Exact two-sided binomial test when b + c < MCNEMAR_EXACT_BELOW (25), otherwise chi-square with continuity
    correction; b + c == 0 gives p = 1.
    """
    a = np.asarray(correct_a)
    bb = np.asarray(correct_b)
    if a.ndim != 1 or bb.ndim != 1 or a.shape != bb.shape:
        raise ValueError(f"correct_a and correct_b must be 1-D of the same length, got {a.shape} and {bb.shape}")
    a, bb = a.astype(bool), bb.astype(bool)
    b = int(np.sum(a & ~bb))
    c = int(np.sum(~a & bb))
    from scipy import special

    if b + c < MCNEMAR_EXACT_BELOW:
        k = min(b, c)
        p = 1.0 if b + c == 0 else min(1.0, 2.0 * float(special.bdtr(k, b + c, 0.5)))  # binomial CDF at k
        return McNemar(b, c, float(k), p, "exact-binomial")
    stat = (abs(b - c) - 1.0) ** 2 / (b + c)
    return McNemar(b, c, stat, float(special.chdtrc(1, stat)), "chi2-cc")  # chi-square(1) upper tail


def intervals_separate(lower: Estimate, upper: Estimate) -> bool:
    """True when `lower`'s interval lies entirely below `upper`'s (both must have intervals; touching = overlap)."""
    if not (lower.has_interval and upper.has_interval):
        return False
    return lower.high < upper.low
