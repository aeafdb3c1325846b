"""dlcore.readable: every number a learner sees, readable and still the number computed."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlcore import readable

SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def parse(text: str) -> float:
    """Read a readable number back (the learner's reading of it)."""
    text = text.replace(readable.MINUS, "-").replace(",", "")
    if "×10" in text:
        mantissa, exponent = text.split("×10")
        return float(mantissa) * 10 ** int(exponent.translate(SUPERSCRIPT_DIGITS))
    return float(text)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.000148, "0.000148"),  # the Inside Adam table showed '000148'
        (-7.6e-23, "−7.6×10⁻²³"),  # GELU at −10 printed -0.0000000000000000000000007
        (2524420.0, "2.52×10⁶"),  # the scaling formula printed 2.52442e+06
        (1e-15, "1×10⁻¹⁵"),  # the log axis printed 1f
        (1e-10, "1×10⁻¹⁰"),  # … and 100p
        (-6e10, "−6×10¹⁰"),  # … and −60B
        (0.1234, "0.123"),
        (98.7654, "98.8"),
        (123456.0, "123,456"),
    ],
)
def test_number_examples_from_the_pages(value, shown):
    assert readable.number(value) == shown


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_number_reads_back_within_its_significant_digits(value):
    shown = readable.number(value, digits=4)
    assert "e" not in shown.lower() or shown == "NaN"
    assert parse(shown) == pytest.approx(value, rel=1e-3, abs=1e-300)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_latex_keeps_six_significant_digits(value):
    text = readable.latex(value).replace("{,}", "").replace(r" \times 10^{", "e").rstrip("}")
    assert float(text) == pytest.approx(value, rel=1e-5, abs=1e-300)


def test_money_has_thousands_separators_and_a_true_minus():
    assert readable.grouped(2524420.3) == "2,524,420"
    assert readable.grouped(-1234.5, 2) == "−1,234.50"


def test_non_finite_values_are_named():
    assert [readable.number(v) for v in (math.nan, math.inf, -math.inf)] == ["NaN", "∞", "−∞"]
