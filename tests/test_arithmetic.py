"""dlcore.arithmetic: the integer ceiling against exact rational arithmetic."""

from fractions import Fraction
from math import ceil

import numpy as np

from dlcore.arithmetic import ceil_div


def test_ceil_div_is_the_ceiling_of_the_exact_quotient():
    for numerator in range(-30, 31):
        for denominator in (*range(-7, 0), *range(1, 8)):
            assert ceil_div(numerator, denominator) == ceil(Fraction(numerator, denominator))


def test_ceil_div_stays_exact_where_a_float_quotient_rounds():
    numerator = 2**60 + 1  # needs 61 bits: numerator / 1 as a float loses the + 1
    assert ceil(numerator / 1) != numerator
    assert ceil_div(numerator, 1) == numerator
    assert ceil_div(3 * 2**60 + 1, 3) == 2**60 + 1


def test_ceil_div_takes_numpy_integers_as_the_pages_pass_them():
    assert ceil_div(np.int64(60_000), 128) == 469
    assert ceil_div(np.arange(5).size, 2) == 3
