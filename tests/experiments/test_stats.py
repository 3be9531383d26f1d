"""Student-t intervals of :mod:`gsepconv.experiments.stats` against tabulated quantiles."""

import math

import pytest

from gsepconv.experiments.stats import mean_interval, paired_interval, student_t_cdf, t_quantile, welch_interval

# two-sided 95 % critical values of Student's t (any statistics table)
TABLE = {1: 12.706204736, 2: 4.302652730, 4: 2.776445105, 9: 2.262157163, 30: 2.042272456}


@pytest.mark.parametrize("df,want", sorted(TABLE.items()))
def test_t_quantile_matches_the_table(df, want):
    assert t_quantile(0.975, df) == pytest.approx(want, abs=1e-8)
    assert t_quantile(0.025, df) == pytest.approx(-want, abs=1e-8)
    assert student_t_cdf(want, df) == pytest.approx(0.975, abs=1e-10)


def test_paired_interval_is_the_t_interval_of_the_differences():
    a, b = [80.0, 82.0, 84.0], [79.0, 80.0, 81.0]  # differences 1, 2, 3: mean 2, sd 1
    iv = paired_interval(a, b)
    half = TABLE[2] / math.sqrt(3)
    assert (iv.n, iv.mean, iv.sd) == (3, 2.0, 1.0)
    assert iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)
    assert iv.sign() == 0  # 2 - 2.48 < 0: the interval contains no difference
    assert paired_interval([5.0, 6.0, 7.0], [1.0, 2.0, 3.5]).sign() == 1


def test_one_value_has_no_interval():
    iv = mean_interval([70.0])
    assert not iv.determined and iv.sign() == 0 and "no interval" in iv.text()
    with pytest.raises(ValueError, match="pairs"):
        paired_interval([1.0, 2.0], [1.0])


def test_welch_interval_of_two_samples():
    # equal variances and sizes: Welch's df is n_a + n_b - 2 = 4, the half width t * sqrt(sd²/n + sd²/n)
    iv = welch_interval(92.0, 1.0, 3, 90.0, 1.0, 3)
    half = TABLE[4] * math.sqrt(2 / 3)
    assert iv.mean == 2.0 and iv.low == pytest.approx(2 - half) and iv.high == pytest.approx(2 + half)
    assert iv.sign() == 0
    # one sample without spread: df = n_a - 1 = 2
    iv = welch_interval(95.0, 2.0, 3, 88.0, 0.0, 3)
    assert iv.low == pytest.approx(7 - TABLE[2] * 2 / math.sqrt(3)) and iv.sign() == 1
    assert welch_interval(1.0, 0.0, 2, 0.0, 0.0, 2).sign() == 1  # no spread at all: the point interval
    assert not welch_interval(92.0, 1.0, 3, 90.0, float("nan"), 1).determined
