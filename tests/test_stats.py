"""Statistics against independent computations: scipy, and values worked out by hand from small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as ss

from noisebench.report import stats

TOL = 1e-9
ACC = [0.80, 0.82, 0.79, 0.81, 0.83]  # five seeds' accuracies


def test_t_interval_matches_scipy_and_hand_computation():
    est = stats.mean_ci(ACC, level=0.95)
    low, high = ss.t.interval(0.95, len(ACC) - 1, loc=np.mean(ACC), scale=ss.sem(ACC))
    assert est.point == pytest.approx(0.81, abs=TOL)
    assert (est.low, est.high) == (pytest.approx(low, abs=TOL), pytest.approx(high, abs=TOL))
    # By hand: deviations -0.01, 0.01, -0.02, 0, 0.02 → sum of squares 0.001, sd = √(0.001/4) = 0.0158113883,
    # t_{0.975, 4} = 2.7764451052, half width = 2.7764451052 · 0.0158113883 / √5 = 0.0196324480.
    assert est.sd == pytest.approx(math.sqrt(0.001 / 4), abs=TOL)
    assert est.high - est.point == pytest.approx(2.7764451051977987 * math.sqrt(0.001 / 4) / math.sqrt(5), abs=TOL)
    assert (est.level, est.method, est.n) == (0.95, "t", 5)


def test_t_quantile_without_scipy_matches_scipy():
    """Integer degrees of freedom use the finite series of A&S 26.7.3/26.7.4 and Newton's method, not scipy."""
    from scipy import special

    for k in [*range(1, 60), 99, 100, 101, 250, 999, 1000]:
        for level in (0.5, 0.6, 0.8, 0.9, 0.95, 0.99, 0.999):
            ours = stats._t_quantile_integer(level, k)
            assert ours == pytest.approx(float(special.stdtrit(k, (1 + level) / 2)), rel=1e-12, abs=0), (k, level)
    assert stats.t_quantile(0.95, 4) == pytest.approx(2.7764451051977987, rel=1e-13)  # by hand, above
    assert stats.t_quantile(0.95, 2.5) == pytest.approx(float(special.stdtrit(2.5, 0.975)), rel=1e-13)  # scipy


def test_many_t_intervals_at_once_match_scipy_row_by_row():
    """`t_intervals` (what a report uses for its ~10^5 estimates, rows of one length computed as one array) against
    scipy for each row: rows of different lengths in one call, a single value (no interval), constant rows (sd
    exactly 0, also for values equal only up to rounding), and the point exactly rounded (math.fsum)."""
    rng = np.random.default_rng(7)
    rows = [list(rng.uniform(0.2, 0.95, size=n)) for n in rng.integers(2, 8, size=300)]
    rows += [[0.5], [0.7, 0.7, 0.7], [0.3 - 0.1, 0.4 - 0.2, 0.2], [1.0, 0.0]]
    order = rng.permutation(len(rows))  # lengths interleaved
    rows = [rows[i] for i in order]
    for row, (point, low, high, sd) in zip(rows, stats.t_intervals(rows, 0.9), strict=True):
        assert point == math.fsum(row) / len(row)
        if len(row) == 1:
            assert (low, high, sd) == (None, None, None)
        elif max(row) - min(row) < 1e-12:
            assert sd == 0.0 and low == high == point
        else:
            assert sd == pytest.approx(float(np.std(row, ddof=1)), rel=1e-13)
            lo, hi = ss.t.interval(0.9, len(row) - 1, loc=np.mean(row), scale=ss.sem(row))
            assert (low, high) == (pytest.approx(lo, abs=TOL), pytest.approx(hi, abs=TOL))
    shuffled = [list(rng.permutation(row)) for row in rows]  # the same values in another order: the same estimate
    assert stats.t_intervals(shuffled, 0.9) == stats.t_intervals(rows, 0.9)
    with pytest.raises(ValueError, match="NaN"):
        stats.t_intervals([[0.1, 0.2], [0.3, math.nan]])
    with pytest.raises(ValueError, match="empty"):
        stats.t_intervals([[0.1], []])


@pytest.mark.parametrize("level", [0.8, 0.9, 0.99])
def test_t_interval_other_levels(level):
    values = [0.5, 0.61, 0.58, 0.7]
    est = stats.mean_ci(values, level=level)
    low, high = ss.t.interval(level, 3, loc=np.mean(values), scale=ss.sem(values))
    assert est.low == pytest.approx(low, abs=TOL) and est.high == pytest.approx(high, abs=TOL)


def test_paired_drop_pairs_by_position_and_matches_one_sample_t():
    clean = np.array([0.90, 0.88, 0.91, 0.89, 0.92])
    noisy = np.array([0.80, 0.79, 0.83, 0.78, 0.84])
    est = stats.paired_drop(clean, noisy)
    d = clean - noisy  # 0.10, 0.09, 0.08, 0.11, 0.08 → mean 0.092
    assert est.point == pytest.approx(0.092, abs=TOL)
    low, high = ss.t.interval(0.95, 4, loc=d.mean(), scale=ss.sem(d))
    assert (est.low, est.high) == (pytest.approx(low, abs=TOL), pytest.approx(high, abs=TOL))
    # The paired interval is narrower than pretending the two samples were independent.
    unpaired = stats.welch(clean, noisy).diff
    assert est.high - est.low < unpaired.high - unpaired.low


@pytest.mark.parametrize(
    "fn, point",
    [
        (lambda: stats.mean_ci([0.7]), 0.7),
        (lambda: stats.paired_drop([0.9], [0.6]), 0.3),
        (lambda: stats.mean_ci([0.7], method="bootstrap", rng=np.random.default_rng(0)), 0.7),
    ],
)
def test_fewer_than_two_values_give_no_interval(fn, point):
    est = fn()
    assert est.point == pytest.approx(point, abs=TOL)
    assert est.low is None and est.high is None and est.sd is None and est.n == 1
    assert not est.has_interval


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="same length"):
        stats.paired_drop([0.9, 0.8], [0.7])
    with pytest.raises(ValueError, match="1-D"):
        stats.mean_ci([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError, match="NaN"):
        stats.mean_ci([0.1, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        stats.mean_ci([])
    with pytest.raises(ValueError, match="level"):
        stats.mean_ci(ACC, level=95)
    with pytest.raises(ValueError, match="same length"):
        stats.mcnemar([True, False], [True])


def test_bootstrap_is_deterministic_and_needs_an_explicit_generator():
    values = [0.8013, 0.8291, 0.7874, 0.8102, 0.8377, 0.7951, 0.8166]
    a = stats.mean_ci(values, method="bootstrap", rng=np.random.default_rng(7), resamples=999)
    b = stats.mean_ci(values, method="bootstrap", rng=np.random.default_rng(7), resamples=999)
    c = stats.mean_ci(values, method="bootstrap", rng=np.random.default_rng(8), resamples=999)
    assert a == b and a != c
    with pytest.raises(ValueError, match="explicit rng"):
        stats.mean_ci(ACC, method="bootstrap")
    assert stats.bootstrap_rng("x").integers(1 << 30) == stats.bootstrap_rng("x").integers(1 << 30)
    assert stats.bootstrap_rng("x").integers(1 << 30) != stats.bootstrap_rng("y").integers(1 << 30)


def test_bootstrap_is_the_percentile_interval_of_resampled_means():
    """Recompute the percentile bootstrap with the same generator stream, independently of mean_ci."""
    x = np.array(ACC)
    est = stats.mean_ci(x, method="bootstrap", rng=np.random.default_rng(3), resamples=500)
    rng = np.random.default_rng(3)
    means = [x[rng.integers(0, 5, size=5)].mean() for _ in range(500)]
    assert est.low == pytest.approx(np.percentile(means, 2.5), abs=TOL)
    assert est.high == pytest.approx(np.percentile(means, 97.5), abs=TOL)
    assert min(ACC) <= est.low <= est.point <= est.high <= max(ACC)


def test_welch_matches_scipy():
    a = [0.12, 0.10, 0.15, 0.11, 0.13]
    b = [0.05, 0.09, 0.02, 0.08]
    cmp = stats.welch(a, b)
    ref = ss.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert cmp.t == pytest.approx(ref.statistic, abs=TOL)
    assert cmp.p == pytest.approx(ref.pvalue, abs=TOL)
    assert cmp.df == pytest.approx(ref.df, abs=TOL)
    assert cmp.diff.point == pytest.approx(np.mean(a) - np.mean(b), abs=TOL)
    assert (cmp.diff.low, cmp.diff.high) == (pytest.approx(ci.low, abs=TOL), pytest.approx(ci.high, abs=TOL))


def test_welch_by_hand():
    # a = [1, 2, 3]: mean 2, s² = 1; b = [2, 4, 6]: mean 4, s² = 4. se² = 1/3 + 4/3 = 5/3.
    # df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17.
    cmp = stats.welch([1, 2, 3], [2, 4, 6])
    assert cmp.diff.point == pytest.approx(-2.0, abs=TOL)
    assert cmp.se == pytest.approx(math.sqrt(5 / 3), abs=TOL)
    assert cmp.df == pytest.approx(50 / 17, abs=TOL)
    assert cmp.t == pytest.approx(-2.0 / math.sqrt(5 / 3), abs=TOL)


def test_welch_without_enough_values_has_no_interval():
    cmp = stats.welch([0.1], [0.2, 0.3])
    assert cmp.p is None and cmp.diff.low is None and cmp.diff.point == pytest.approx(-0.15, abs=TOL)


def test_welch_degenerate_variance_keeps_a_defined_p():
    """Both samples constant: the difference is known exactly. scipy says t = inf, p = 0 for different means."""
    flat = stats.welch([0.5, 0.5, 0.5], [0.25, 0.25])
    ref = ss.ttest_ind([0.5, 0.5, 0.5], [0.25, 0.25], equal_var=False)
    assert flat.se == 0.0 and flat.t == math.inf == ref.statistic and flat.p == 0.0 == ref.pvalue
    assert (flat.diff.low, flat.diff.point, flat.diff.high) == (0.25, 0.25, 0.25)
    # Differences that are equal up to rounding (0.3 - 0.1 vs 0.4 - 0.2) are constant too, not t = 1e16.
    rounding = stats.welch([0.3 - 0.1, 0.4 - 0.2, 0.5 - 0.3], [0.1, 0.1])
    assert (rounding.se, rounding.t, rounding.p) == (0.0, math.inf, 0.0)
    same = stats.welch([0.2, 0.2], [0.2, 0.2])  # scipy: nan; no difference at all is p = 1
    assert (same.t, same.p) == (0.0, 1.0)
    assert stats.welch([0.1, 0.1], [0.3, 0.3]).t == -math.inf


def test_paired_t_matches_ttest_rel():
    a = [0.060, 0.070, 0.055, 0.065, 0.075]
    b = [0.020, 0.025, 0.015, 0.030, 0.020]
    cmp = stats.paired_t(a, b)
    ref = ss.ttest_rel(a, b)
    ci = ref.confidence_interval(0.95)
    assert cmp.t == pytest.approx(ref.statistic, abs=TOL) and cmp.p == pytest.approx(ref.pvalue, abs=TOL)
    assert cmp.df == 4 == ref.df
    assert (cmp.diff.low, cmp.diff.high) == (pytest.approx(ci.low, abs=TOL), pytest.approx(ci.high, abs=TOL))
    assert (cmp.diff.method, cmp.diff.n) == ("paired-t", 5)


def test_paired_t_by_hand_and_unlike_welch_on_correlated_seeds():
    # d = a - b = [1, 3, 2]: mean 2, sd 1, se = 1/√3, t = 2√3 on 2 df.
    a, b = [5.0, 9.0, 7.0], [4.0, 6.0, 5.0]
    cmp = stats.paired_t(a, b)
    assert cmp.diff.point == pytest.approx(2.0, abs=TOL) and cmp.se == pytest.approx(1 / math.sqrt(3), abs=TOL)
    assert cmp.t == pytest.approx(2 * math.sqrt(3), abs=TOL) and cmp.df == 2
    assert cmp.p == pytest.approx(2 * ss.t.sf(2 * math.sqrt(3), 2), abs=TOL)
    # The seeds move together (r > 0): pairing removes the shared seed effect, Welch does not.
    assert cmp.p < stats.welch(a, b).p


def test_paired_t_degenerate_and_too_few_pairs():
    const = stats.paired_t([0.3, 0.4, 0.5], [0.1, 0.2, 0.3])  # d = 0.2 on every seed
    assert (const.t, const.p, const.se) == (math.inf, 0.0, 0.0)
    assert const.diff.low == pytest.approx(0.2, abs=TOL) == const.diff.high
    zero = stats.paired_t([0.3, 0.4], [0.3, 0.4])
    assert (zero.t, zero.p) == (0.0, 1.0)
    one = stats.paired_t([0.3], [0.1])
    assert one.p is None and one.diff.low is None and one.diff.point == pytest.approx(0.2, abs=TOL)
    with pytest.raises(ValueError, match="same length"):
        stats.paired_t([0.1, 0.2], [0.1])


def test_stratified_t_one_seed_is_the_one_sample_t_over_examples():
    e = [1, 0, 0, -1, 1, 1, 0, 2, 0, 1]
    cmp = stats.stratified_t([e])
    ref = ss.ttest_1samp(e, 0.0)
    assert cmp.t == pytest.approx(ref.statistic, abs=TOL) and cmp.p == pytest.approx(ref.pvalue, abs=TOL)
    assert cmp.df == pytest.approx(len(e) - 1, abs=TOL)
    ci = ref.confidence_interval(0.95)
    assert (cmp.diff.low, cmp.diff.high) == (pytest.approx(ci.low, abs=TOL), pytest.approx(ci.high, abs=TOL))


def test_stratified_t_by_hand_over_two_seeds():
    # Seed 1: [1, 0, 1, 0] mean 0.5, s² = 1/3, v1 = 1/12. Seed 2: [0, 0, 1] mean 1/3, s² = 1/3, v2 = 1/9.
    # D = (0.5 + 1/3)/2 = 5/12; se² = (1/12 + 1/9)/4 = 7/144; df = (7/36)² / ((1/12)²/3 + (1/9)²/2) = 4.2352941...
    cmp = stats.stratified_t([[1, 0, 1, 0], [0, 0, 1]])
    assert cmp.diff.point == pytest.approx(5 / 12, abs=TOL)
    assert cmp.se == pytest.approx(math.sqrt(7 / 144), abs=TOL)
    df = (7 / 36) ** 2 / ((1 / 12) ** 2 / 3 + (1 / 9) ** 2 / 2)
    assert cmp.df == pytest.approx(df, abs=TOL)
    assert cmp.p == pytest.approx(2 * ss.t.sf((5 / 12) / math.sqrt(7 / 144), df), abs=TOL)
    assert cmp.diff.n == 7
    flat = stats.stratified_t([[0, 0], [0, 0, 0]])  # no example changed: no difference, p = 1
    assert (flat.p, flat.t) == (1.0, 0.0)


def test_drop_difference_and_mcnemar_answer_different_questions():
    """A starts 50 points above B and both lose the same 10 examples' worth: noisy accuracy differs hugely
    (McNemar), the drop does not differ at all (per-example drop-difference test)."""
    n = 100
    a_clean = np.ones(n, bool)
    a_noisy = a_clean.copy()
    a_noisy[:10] = False  # A loses examples 0-9
    b_clean = np.arange(n) < 50
    b_noisy = b_clean.copy()
    b_noisy[20:30] = False  # B loses examples 20-29
    e = (a_clean.astype(int) - a_noisy) - (b_clean.astype(int) - b_noisy)
    assert stats.mcnemar(a_noisy, b_noisy).p < 1e-6
    drop_test = stats.stratified_t([e])
    assert drop_test.diff.point == 0.0 and drop_test.p == pytest.approx(1.0, abs=TOL)
    # And the reverse: equal noisy accuracy, very different drops.
    b_clean2 = np.arange(n) < 50
    b_noisy2 = np.arange(n) < 40  # B loses 10 points
    a_clean2 = np.arange(n) < 90
    a_noisy2 = np.arange(n) >= 60  # A loses 50 points, and its noisy accuracy is 40% like B's, on other examples
    e2 = (a_clean2.astype(int) - a_noisy2) - (b_clean2.astype(int) - b_noisy2)
    assert a_noisy2.mean() == b_noisy2.mean() and stats.mcnemar(a_noisy2, b_noisy2).p > 0.5
    assert stats.stratified_t([e2]).diff.point == pytest.approx(0.4, abs=TOL)
    assert stats.stratified_t([e2]).p < 1e-6


def _naive_two_level(per_seed, resamples, rng):
    """Independent implementation: explicit index resampling, seeds then examples."""
    out = np.empty(resamples)
    for r in range(resamples):
        seeds = rng.integers(0, len(per_seed), size=len(per_seed))
        out[r] = np.mean([per_seed[k][rng.integers(0, len(per_seed[k]), size=len(per_seed[k]))].mean()
                          for k in seeds])
    return out


def test_hierarchical_bootstrap_against_a_naive_implementation():
    gen = np.random.default_rng(7)
    per_seed = [(gen.random(n) < p).astype(float) for n, p in ((120, 0.8), (100, 0.7), (140, 0.85), (110, 0.75))]
    est = stats.hierarchical_bootstrap(per_seed, rng=np.random.default_rng(1), resamples=20_000)
    assert est.point == pytest.approx(np.mean([x.mean() for x in per_seed]), abs=TOL)
    naive = _naive_two_level(per_seed, 20_000, np.random.default_rng(2))
    low, high = np.quantile(naive, [0.025, 0.975])
    # Two independent Monte Carlo runs of the same distribution: quantiles agree to Monte Carlo error.
    assert est.low == pytest.approx(low, abs=0.006) and est.high == pytest.approx(high, abs=0.006)
    # Wider than the seed-only bootstrap, which ignores the examples' variance.
    seed_only = stats.mean_ci([x.mean() for x in per_seed], method="bootstrap", rng=np.random.default_rng(1),
                              resamples=20_000)
    assert est.high - est.low > seed_only.high - seed_only.low
    assert (est.method, est.n) == ("hierarchical", 470)


def test_hierarchical_bootstrap_reduces_to_the_seed_bootstrap_with_one_example_per_seed():
    per_seed = [[v] for v in ACC]
    est = stats.hierarchical_bootstrap(per_seed, rng=np.random.default_rng(5), resamples=2000)
    ref = stats.mean_ci(ACC, method="bootstrap", rng=np.random.default_rng(5), resamples=2000)
    assert (est.low, est.high) == (pytest.approx(ref.low, abs=TOL), pytest.approx(ref.high, abs=TOL))


def test_hierarchical_bootstrap_is_deterministic_and_needs_an_rng():
    per_seed = [[1, 0, 1, 1], [0, 1, 1, 1, 1]]
    a = stats.hierarchical_bootstrap(per_seed, rng=stats.bootstrap_rng("k"), resamples=500)
    b = stats.hierarchical_bootstrap(per_seed, rng=stats.bootstrap_rng("k"), resamples=500)
    assert a == b
    with pytest.raises(ValueError, match="explicit rng"):
        stats.hierarchical_bootstrap(per_seed)
    with pytest.raises(ValueError):
        stats.hierarchical_bootstrap([[]], rng=stats.bootstrap_rng("k"))
    flat = stats.hierarchical_bootstrap([[0.5, 0.5], [0.5]], rng=stats.bootstrap_rng("k"), resamples=100)
    assert flat.low == flat.high == 0.5


def test_holm_hand_worked_example():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → the
    # running maximum keeps 0.06. Back in input order: [0.03, 0.06, 0.06, 0.02].
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02], atol=TOL)
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0], atol=TOL)  # capped at 1
    assert stats.holm([]).shape == (0,)
    with pytest.raises(ValueError):
        stats.holm([1.2])


def test_mcnemar_exact_binomial_for_few_discordant_pairs():
    a = np.array([True] * 10 + [True] * 1 + [False] * 5 + [False] * 4)
    b = np.array([True] * 10 + [False] * 1 + [True] * 5 + [False] * 4)
    res = stats.mcnemar(a, b)
    assert (res.b, res.c, res.method) == (1, 5, "exact-binomial")
    # By hand: P[X ≤ 1], X ~ Bin(6, 1/2) = (1 + 6)/64; two-sided p = 14/64.
    assert res.p == pytest.approx(14 / 64, abs=TOL)
    assert res.p == pytest.approx(ss.binomtest(1, 6, 0.5).pvalue, abs=TOL)


def test_mcnemar_chi_square_with_continuity_correction_for_many():
    a = np.array([True] * 30 + [False] * 10 + [True] * 50)
    b = np.array([False] * 30 + [True] * 10 + [True] * 50)
    res = stats.mcnemar(a, b)
    assert (res.b, res.c, res.method) == (30, 10, "chi2-cc")
    assert res.statistic == pytest.approx((20 - 1) ** 2 / 40, abs=TOL)
    assert res.p == pytest.approx(ss.chi2.sf(361 / 40, 1), abs=TOL)


def test_mcnemar_no_discordant_pairs():
    res = stats.mcnemar([True, False], [True, False])
    assert (res.b, res.c, res.p) == (0, 0, 1.0)


@pytest.mark.parametrize(("correct", "n", "rate"), [(60, 100, 0.5), (50, 100, 0.5), (95, 100, 0.9), (0, 10, 0.3),
                                                     (10, 10, 0.3), (7, 18, 0.5)])
def test_above_majority_is_the_one_sided_binomial_test(correct, n, rate):
    expected = ss.binomtest(correct, n, rate, alternative="greater").pvalue
    assert stats.above_majority(correct, n, rate) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError):
        stats.above_majority(11, 10, 0.5)


def test_min_detectable_drop_and_accuracy_half_width_by_formula():
    # (t_{0.975,4} + t_{0.80,4}) · sd / √5 with scipy's quantiles; one accuracy: 1.96 · √(p(1-p)/n)
    expected = (ss.t.ppf(0.975, 4) + ss.t.ppf(0.80, 4)) * 0.03 / math.sqrt(5)
    assert stats.min_detectable_drop(0.03, 5) == pytest.approx(expected, abs=1e-12)
    assert stats.min_detectable_drop(0.03, 1) is None
    assert stats.accuracy_half_width(0.85, 900) == pytest.approx(ss.norm.ppf(0.975) * math.sqrt(0.85 * 0.15 / 900),
                                                                 abs=1e-12)
    assert round(100 * stats.accuracy_half_width(0.85, 900), 1) == 2.3  # the figure quoted for few-seed studies


def test_intervals_separate_rule():
    lo = stats.Estimate(0.1, 0.05, 0.15, 0.95, "t", 5)
    hi = stats.Estimate(0.3, 0.2, 0.4, 0.95, "t", 5)
    touching = stats.Estimate(0.2, 0.15, 0.25, 0.95, "t", 5)
    single = stats.Estimate(0.3, None, None, 0.95, "t", 1)
    assert stats.intervals_separate(lo, hi) and not stats.intervals_separate(hi, lo)
    assert not stats.intervals_separate(lo, touching)
    assert not stats.intervals_separate(lo, single)


def test_welch_summary_is_welch_from_stored_means_and_sds():
    """`welch_summary` (what `check --margin` uses on stored reports) equals `welch` on the raw samples, and its
    statistic and p are scipy's `ttest_ind_from_stats(equal_var=False)`."""
    import numpy as np
    from scipy import stats as sps

    from noisebench.report import stats

    rng = np.random.default_rng(5)
    for n_a, n_b in ((5, 5), (3, 7), (2, 2)):
        a, b = rng.normal(0.3, 0.05, n_a), rng.normal(0.25, 0.02, n_b)
        raw = stats.welch(a, b)
        summary = stats.welch_summary(a.mean(), a.std(ddof=1), n_a, b.mean(), b.std(ddof=1), n_b)
        assert summary.diff.point == pytest.approx(raw.diff.point, abs=1e-12)
        assert (summary.diff.low, summary.diff.high) == pytest.approx((raw.diff.low, raw.diff.high), abs=1e-12)
        ref = sps.ttest_ind_from_stats(a.mean(), a.std(ddof=1), n_a, b.mean(), b.std(ddof=1), n_b, equal_var=False)
        assert summary.t == pytest.approx(ref.statistic, rel=1e-10) and summary.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert stats.welch_summary(0.5, None, 1, 0.4, 0.1, 5).diff.low is None  # one seed: no interval
