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
- "hierarchical": the two-level ("multi-") bootstrap of MultiBERTs (Sellam et al., 2022) for few seeds × many
  examples: each resample draws the seeds with replacement, then within every drawn seed that seed's examples with
  replacement; the statistic is the mean over drawn seeds of the resampled per-seed means. It needs per-example
  values (e.g. correctness), so it captures example variance that a t or bootstrap over five seed means ignores.
  The percentile bootstrap over seeds alone undercovers with few seeds (about 85% actual coverage for a nominal 95%
  at five seeds): use "t" or "hierarchical" below ~10 seeds.
Drops are paired: drop_s = clean_s - noisy_s for each seed s, then the interval of the mean of those differences.

Comparisons of two models (report --compare):
- `paired_t`: the design is paired by seed (both models see the same noisy texts for seed s), so the default test is
  Student's t over the per-seed differences d_s = a_s - b_s with n - 1 degrees of freedom (scipy's ttest_rel).
- `welch`: Welch's unequal-variance test, only for unpaired designs (different noise draws).
- `stratified_t`: a per-example test of a per-seed mean (e.g. of the drop difference), models held fixed: the mean
  over seeds of the per-example means, with its standard error from the examples' variance within each seed and
  Satterthwaite degrees of freedom. With one seed it is the one-sample t over examples (scipy's ttest_1samp).
Degenerate variance is explicit: a difference with zero standard error is t = ±inf, p = 0 when it is non-zero, and
t = 0, p = 1 when it is zero, so a comparison with a defined difference always keeps its p-value (and its place in
a Holm family).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

import numpy as np

METHODS = ("t", "bootstrap", "hierarchical")
SEED_METHODS = ("t", "bootstrap")  # intervals computable from per-seed values alone
DEFAULT_BOOTSTRAP_SEED = 20240917
DEFAULT_RESAMPLES = 10_000
# McNemar: below this many discordant pairs the exact binomial test is used, at or above it the chi-square test
# with continuity correction (the usual rule of thumb: the chi-square approximation is poor for small b + c).
MCNEMAR_EXACT_BELOW = 25
CONSTANT_SPREAD = 1e-12


@dataclass(slots=True)
class Estimate:
    """A point estimate with its interval. low/high are None when n < 2 (no interval can be computed).

    Treat as immutable. Not a frozen dataclass only for speed: a report makes ~10^5 of them, and a frozen
    dataclass's __init__ costs four times as much."""

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
    """A test of a difference: diff = mean(a) - mean(b) (welch), mean(a - b) (paired_t) or a stratified mean.

    `diff` carries the test's t interval (method "welch", "paired-t" or "stratified-t"; n = the smaller sample size,
    the number of pairs, or the number of examples); `se`, `t`, `df` and `p` are None when there are too few values
    for a variance (fewer than two per sample / pair / seed). With zero standard error the interval is the point,
    and t = ±inf, p = 0 for a non-zero difference, t = 0, p = 1 for a zero one (scipy would give inf or nan).
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
    if type(values) is list and all(type(v) is float for v in values):
        xs = values  # the common case, already plain floats (never modified here)
    elif isinstance(values, np.ndarray):
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
    """Mean and sample standard deviation (n - 1 denominator; None when n < 2) of a non-empty list.

    Values that differ only by floating-point rounding (a spread below CONSTANT_SPREAD relative to their size, e.g.
    0.3 - 0.1 and 0.4 - 0.2) are constant: sd is exactly 0, so degenerate variance is recognised, not 1e-17.
    """
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return mean, None
    low, high = min(xs), max(xs)
    if high - low <= CONSTANT_SPREAD * max(1.0, -low, high):  # max(-low, high) is the largest |value|
        return mean, 0.0
    return mean, math.sqrt(math.fsum([(v - mean) ** 2 for v in xs]) / (n - 1))


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _pair(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, names: tuple[str, str]) -> tuple[list, list]:
    x, y = _vector(a, names[0]), _vector(b, names[1])
    if len(x) != len(y):
        raise ValueError(f"{names[0]},{names[1]} must have the same length, got {len(x)} and {len(y)}")
    return x, y


@lru_cache(maxsize=4096)
def t_quantile(level: float, df: float) -> float:
    """Two-sided Student's t critical value: the (1+level)/2 quantile with `df` degrees of freedom (cached).

    Integer df (every seed-level interval: n - 1) are computed here without scipy, whose import is a fifth of a
    report's time (`_t_quantile_integer`, tested against scipy.special.stdtrit); fractional df go to scipy."""
    if float(df).is_integer() and 1 <= df <= 1000:  # beyond, the series sums thousands of rounded terms
        return _t_quantile_integer(level, int(df))
    from scipy import special  # scipy.special, not scipy.stats: a fifth of the import time

    return float(special.stdtrit(df, (1.0 + level) / 2.0))


def _t_central(t: float, k: int) -> float:
    """P(|T| <= t) for Student's t with integer k >= 1 degrees of freedom: the finite series of Abramowitz &
    Stegun 26.7.3 (k odd) and 26.7.4 (k even) in θ = atan(t / √k)."""
    theta = math.atan(t / math.sqrt(k))
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    term = acc = 1.0
    if k % 2:  # (2/π)(θ + sinθ cosθ [1 + (2/3)cos²θ + (2·4)/(3·5)cos⁴θ + … up to cos^(k-3)θ]); k = 1: 2θ/π
        for j in range(1, (k - 1) // 2):
            term *= 2 * j / (2 * j + 1) * c2
            acc += term
        return 2.0 / math.pi * (theta + (s * math.cos(theta) * acc if k > 1 else 0.0))
    for j in range(1, k // 2):  # sinθ [1 + (1/2)cos²θ + (1·3)/(2·4)cos⁴θ + … up to cos^(k-2)θ]
        term *= (2 * j - 1) / (2 * j) * c2
        acc += term
    return s * acc


def _t_quantile_integer(level: float, k: int) -> float:
    """The t with P(|T_k| <= t) = level. Closed forms for k = 1, 2; otherwise Newton's method from the normal
    quantile: P(|T| <= t) is concave in t > 0 and the normal quantile lies below the root, so the iterates increase
    monotonically to it."""
    if k == 1:
        return math.tan(math.pi * level / 2.0)
    if k == 2:
        return level * math.sqrt(2.0 / (1.0 - level * level))
    norm = math.exp(math.lgamma((k + 1) / 2.0) - math.lgamma(k / 2.0)) / math.sqrt(k * math.pi)
    t = NormalDist().inv_cdf((1.0 + level) / 2.0)
    for _ in range(200):
        step = (level - _t_central(t, k)) / (2.0 * norm * (1.0 + t * t / k) ** (-(k + 1) / 2.0))
        t += step
        if abs(step) <= 1e-15 * t:
            break
    return t


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
    """Mean of `values` (shape [n]) with a two-sided interval by `method` ("t" or "bootstrap"; per-example values
    go to `hierarchical_bootstrap`).

    The bootstrap requires `rng` (an explicit np.random.Generator); it is never drawn from global state.
    n == 0 raises ValueError; n == 1 gives the value with no interval.
    """
    xs = _vector(values, "values")
    _check_level(level)
    if method not in SEED_METHODS:
        raise ValueError(f"method must be one of {SEED_METHODS}, got {method!r}")
    n = len(xs)
    if n == 0:
        raise ValueError("values is empty: no estimate")
    if method == "t":
        point, low, high, sd = t_intervals([xs], level)[0]
        return Estimate(point, low, high, level, method, n, sd)
    point, sd = _mean_sd(xs)
    if sd is None:
        return Estimate(point, None, None, level, method, n, None)
    if rng is None:
        raise ValueError("the bootstrap needs an explicit rng (np.random.Generator); see bootstrap_rng()")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    idx = rng.integers(0, n, size=(resamples, n))  # [resamples, n] indices drawn with replacement
    means = np.asarray(xs)[idx].mean(axis=1)  # [resamples]
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Estimate(point, float(low), float(high), level, method, n, sd)


def t_intervals(rows: Sequence[Sequence[float]], level: float = 0.95) -> list[tuple[float, float | None,
                                                                                   float | None, float | None]]:
    """Student's t interval of the mean of each row (one row per estimate: its per-seed values): (point, low, high,
    sd), with low, high and sd None for a single value. The computation behind `mean_ci(..., "t")`, for many rows
    at once: a report has ~10^5 of them, and rows of one length are computed together as one [rows, n] array.

    point is exactly rounded (math.fsum), as every mean here; sd (n - 1 in the denominator, exactly 0 for values
    that differ only by rounding: see `_mean_sd`) sums its squared deviations in numpy, in ascending order of the
    values, within a few units in the last place of the exactly rounded sum. Neither depends on the order of a
    row's values. Rows must be non-empty and finite (ValueError otherwise).
    """
    _check_level(level)
    out: list = [None] * len(rows)
    by_length: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_length.setdefault(len(row), []).append(i)
    for n, idx in by_length.items():
        if n == 0:
            raise ValueError("values is empty: no estimate")
        x = np.array([rows[i] for i in idx], dtype=float)  # [len(idx), n]
        if not np.isfinite(x).all():
            raise ValueError("values contains NaN or infinite values")
        x.sort(axis=1)  # each row summed in one order: the estimate depends on the values, never on their order
        points = [math.fsum(rows[i]) / n for i in idx]
        if n == 1:
            for i, p in zip(idx, points, strict=True):
                out[i] = (p, None, None, None)
            continue
        low, high = x.min(axis=1), x.max(axis=1)
        sd = np.sqrt(((x - np.array(points)[:, None]) ** 2).sum(axis=1) / (n - 1))
        sd[high - low <= CONSTANT_SPREAD * np.maximum(1.0, np.maximum(-low, high))] = 0.0  # as in _mean_sd
        half = t_quantile(level, n - 1) * sd / math.sqrt(n)
        for i, p, s, h in zip(idx, points, sd.tolist(), half.tolist(), strict=True):
            out[i] = (p, p - h, p + h, s)
    return out


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
    c, z = _pair(clean, noisy, ("clean", "noisy"))
    return mean_ci([a - b for a, b in zip(c, z, strict=True)], level=level, method=method, rng=rng, resamples=resamples)


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
    return welch_summary(mx, sx, len(x), my, sy, len(y), level)


def welch_summary(mean_a: float, sd_a: float | None, n_a: int, mean_b: float, sd_b: float | None, n_b: int,
                  level: float = 0.95) -> Comparison:
    """`welch` from each sample's mean, sample sd (None when n < 2) and size — what a stored report keeps."""
    _check_level(level)
    diff = mean_a - mean_b
    n = min(n_a, n_b)
    if sd_a is None or sd_b is None or n_a < 2 or n_b < 2:
        return Comparison(Estimate(diff, None, None, level, "welch", n), None, None, None, None)
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    se2 = va + vb
    if se2 == 0.0:  # both samples constant: the difference is known exactly
        return _exact(diff, level, "welch", n, df=None)  # Welch-Satterthwaite df is 0/0 here
    se = math.sqrt(se2)
    df = se2**2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return _t_test(diff, se, df, level, "welch", n)


def _t_test(diff: float, se: float, df: float, level: float, method: str, n: int) -> Comparison:
    """Two-sided t test of diff = 0 with standard error se > 0 on df degrees of freedom, and its interval."""
    from scipy import special

    t = diff / se
    p = float(2.0 * special.stdtr(df, -abs(t)))  # two-sided tail of Student's t
    half = t_quantile(level, df) * se
    return Comparison(Estimate(diff, diff - half, diff + half, level, method, n), se, t, df, p)


def _exact(diff: float, level: float, method: str, n: int, df: float | None) -> Comparison:
    """A difference with zero standard error: the interval is the point; p = 0 unless the difference is 0 (p = 1)."""
    t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    return Comparison(Estimate(diff, diff, diff, level, method, n, 0.0), 0.0, t, df, 1.0 if diff == 0.0 else 0.0)


def paired_t(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, level: float = 0.95
) -> Comparison:
    """Paired comparison of mean(a - b) over pairs a[i], b[i] (shapes [n] and [n]; e.g. two models' drops per seed).

    d = a - b; se = sd(d)/√n (n - 1 denominator); t = mean(d)/se on n - 1 degrees of freedom; two-sided p; interval
    mean(d) ± t_{(1+level)/2, n-1}·se. Identical to scipy.stats.ttest_rel(a, b). n < 2: no interval, no test.
    """
    x, y = _pair(a, b, ("a", "b"))
    _check_level(level)
    if not x:
        raise ValueError("paired_t needs at least one pair")
    d = [u - v for u, v in zip(x, y, strict=True)]
    mean, sd = _mean_sd(d)
    n = len(d)
    if sd is None:
        return Comparison(Estimate(mean, None, None, level, "paired-t", n), None, None, None, None)
    if sd == 0.0:
        return _exact(mean, level, "paired-t", n, df=float(n - 1))
    return _t_test(mean, sd / math.sqrt(n), float(n - 1), level, "paired-t", n)


def stratified_t(per_seed: Sequence[Sequence[float] | np.ndarray], level: float = 0.95) -> Comparison:
    """Per-example test of a mean over seeds, models held fixed. per_seed: S arrays, shapes [n_s], one value per
    example of seed s (e.g. the drop difference of one example: (clean_A - noisy_A) - (clean_B - noisy_B) in
    correctness).

    D = (1/S)·Σ_s mean_s; se² = (1/S²)·Σ_s v_s with v_s = sd_s²/n_s; df = (Σ v_s)² / Σ (v_s²/(n_s - 1))
    (Satterthwaite); t = D/se, two-sided p. With S = 1 this is scipy.stats.ttest_1samp over the examples. Every seed
    needs at least two examples for a test (else no interval and p None).
    """
    _check_level(level)
    seeds = [_vector(v, f"per_seed[{i}]") for i, v in enumerate(per_seed)]
    if not seeds or any(not xs for xs in seeds):
        raise ValueError("stratified_t needs at least one seed and one value per seed")
    stats_ = [_mean_sd(xs) for xs in seeds]
    point = math.fsum(m for m, _ in stats_) / len(seeds)
    n = sum(len(xs) for xs in seeds)
    sds = [sd for _, sd in stats_]
    if any(sd is None for sd in sds):
        return Comparison(Estimate(point, None, None, level, "stratified-t", n), None, None, None, None)
    v = [sd**2 / len(xs) for sd, xs in zip(sds, seeds, strict=True) if sd is not None]
    se2 = math.fsum(v) / len(seeds) ** 2
    if se2 == 0.0:
        return _exact(point, level, "stratified-t", n, df=float(n - len(seeds)))
    df = math.fsum(v) ** 2 / math.fsum(vs**2 / (len(xs) - 1) for vs, xs in zip(v, seeds, strict=True))
    return _t_test(point, math.sqrt(se2), df, level, "stratified-t", n)


def hierarchical_bootstrap(
    per_seed: Sequence[Sequence[float] | np.ndarray],
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    resamples: int = DEFAULT_RESAMPLES,
) -> Estimate:
    """Two-level ("multi-") bootstrap of the mean over seeds of per-example values. per_seed: S arrays, shapes
    [n_s] (e.g. per-example correctness, or clean - noisy correctness for a drop; for a paired comparison of two
    models, the per-example difference of the two, so both arms share every drawn example index).

    Point = (1/S)·Σ_s mean_s. Each resample: S seed indices drawn with replacement (`rng.integers(0, S, (R, S))`,
    the same first draw as `mean_ci`'s bootstrap), then for every drawn seed its n_s examples with replacement; the
    statistic is the mean over drawn seeds of the resampled means. Resampling n values with replacement is drawn
    exactly as multinomial counts over the seed's distinct values (cheap for correctness, which has ≤ 5 values).
    Interval = percentile quantiles as in `mean_ci`. sd = the sample sd of the per-seed means (None when S < 2).
    """
    seeds = [np.asarray(_vector(v, f"per_seed[{i}]"), dtype=float) for i, v in enumerate(per_seed)]
    _check_level(level)
    if not seeds or any(len(xs) == 0 for xs in seeds):
        raise ValueError("hierarchical_bootstrap needs at least one seed and one value per seed")
    if rng is None:
        raise ValueError("the bootstrap needs an explicit rng (np.random.Generator); see bootstrap_rng()")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    means = [math.fsum(xs.tolist()) / len(xs) for xs in seeds]
    point, sd = _mean_sd(means)
    n_seeds = len(seeds)
    picks = rng.integers(0, n_seeds, size=(resamples, n_seeds))  # [R, S] drawn seed indices
    drawn = np.empty((resamples, n_seeds))  # [R, S] resampled mean of each drawn seed
    for k, xs in enumerate(seeds):
        where = picks == k
        values, counts = np.unique(xs, return_counts=True)
        draws = rng.multinomial(len(xs), counts / len(xs), size=int(where.sum()))  # [m_k, distinct values]
        drawn[where] = draws @ values / len(xs)
    low, high = np.quantile(drawn.mean(axis=1), [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Estimate(point, float(low), float(high), level, "hierarchical", sum(map(len, seeds)), sd)


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


def min_detectable_drop(sd: float, seeds: int, level: float = 0.95, power: float = 0.8) -> float | None:
    """The smallest mean paired drop a t test over `seeds` per-seed drops (sample sd `sd`) detects with `power` at
    two-sided `level`: (t_{(1+level)/2, S-1} + t_{power, S-1}) · sd / √S. None with fewer than two seeds."""
    if seeds < 2:
        return None
    _check_level(level)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    return (t_quantile(level, seeds - 1) + t_quantile(2.0 * power - 1.0, seeds - 1)) * sd / math.sqrt(seeds)


def accuracy_half_width(accuracy: float, n: int, level: float = 0.95) -> float:
    """Half-width of one accuracy's normal-approximation interval from its n examples: z · √(p(1-p)/n)."""
    z = NormalDist().inv_cdf((1.0 + level) / 2.0)
    return z * math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n)


ABOVE_CHANCE_ALPHA = 0.05


def above_majority(correct: int, n: int, majority_rate: float) -> float:
    """One-sided binomial test that a classifier beats always predicting the majority class: the p-value
    P[X ≥ correct] for X ~ Binomial(n, majority_rate) (scipy's binomtest(..., alternative="greater")). A model
    whose clean accuracy has p > ABOVE_CHANCE_ALPHA has not shown that it learned anything: its noise drops are
    not robustness."""
    if not (0 <= correct <= n and n > 0 and 0.0 <= majority_rate <= 1.0):
        raise ValueError(f"need 0 <= correct <= n, n > 0 and a rate in [0, 1]; got {correct}, {n}, {majority_rate}")
    if correct == 0:
        return 1.0
    from scipy import special

    return float(special.bdtrc(correct - 1, n, majority_rate))  # P[X > correct - 1]


def intervals_separate(lower: Estimate, upper: Estimate) -> bool:
    """True when `lower`'s interval lies entirely below `upper`'s (both must have intervals; touching = overlap)."""
    if lower.high is None or upper.low is None or lower.low is None or upper.high is None:
        return False
    return lower.high < upper.low
