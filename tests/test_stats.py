"""Student-t intervals of :mod:`gsepconv.experiments.stats` against tabulated quantiles."""

import math

import pytest

from gsepconv.experiments.stats import mean_interval, paired_interval, student_t_cdf, t_quantile

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
