"""Numbers written the way a learner reads them at a glance: one helper for every page.

Python's ``:g`` and Plotly's defaults write ``2.52442e+06``, ``1e-07``,
``-0.0000000000000000000000007`` or ``100p``; a learner reads ``2,524,420``, ``1×10⁻⁷``,
``−7.6×10⁻²³`` and ``1×10⁻¹⁰``.
Plain decimals are used from 0.0001 up to a million, scientific notation with a real
"×10" and superscript exponent outside that range, thousands separators above 9,999 and
a true minus sign throughout. Every function here returns text; none rounds the value
that is computed, only the value that is shown.
"""

import math

SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
MINUS = "−"  # U+2212: the typographic minus, as wide as a plus
SMALLEST_PLAIN = 1e-4  # below this a decimal has too many zeros to count at a glance
LARGEST_PLAIN = 1e6  # from here on, digits are easier to read as a power of ten


def number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, plain or scientific as reads best.

    >>> number(0.000148), number(2524420.3), number(-7.6e-23), number(12345.678)
    ('0.000148', '2.52×10⁶', '−7.6×10⁻²³', '12,346')
    >>> number(0.5), number(-3), number(1e-15), number(float("nan")), number(float("-inf"))
    ('0.5', '−3', '1×10⁻¹⁵', 'NaN', '−∞')
    """
    special = _special(value)
    if special is not None:
        return special
    if SMALLEST_PLAIN <= abs(value) < LARGEST_PLAIN:
        return _plain(value, digits)
    return scientific(value, digits)


def scientific(value: float, digits: int = 3) -> str:
    """``value`` as mantissa×10 with a superscript exponent, trailing zeros dropped.

    >>> scientific(2524420.3), scientific(1e-8), scientific(-0.000123456, 2)
    ('2.52×10⁶', '1×10⁻⁸', '−1.2×10⁻⁴')
    """
    special = _special(value)
    if special is not None:
        return special
    mantissa, exponent = _split(value, digits)
    return f"{_minus(mantissa)}×10{str(exponent).translate(SUPERSCRIPTS)}"


def grouped(value: float, decimals: int = 0) -> str:
    """``value`` with thousands separators and a fixed number of decimals (money, counts).

    >>> grouped(2524420.3), grouped(-1234.5, 2), grouped(7)
    ('2,524,420', '−1,234.50', '7')
    """
    special = _special(value)
    if special is not None:
        return special
    return _minus(f"{value:,.{decimals}f}")


def latex(value: float, digits: int = 6) -> str:
    """``value`` for a LaTeX formula: ``2{,}524{,}420``, ``0.000148``, ``1.5 \\times 10^{-8}``.

    Keeps ``digits`` significant digits so the formula shown still computes what the code
    does to that precision. Separators are wrapped in braces so LaTeX does not add a space.

    >>> latex(2524420.3), latex(0.000148), latex(1.5e-8), latex(-30.5)
    ('2{,}524{,}420', '0.000148', '1.5 \\\\times 10^{-8}', '-30.5')
    """
    if not math.isfinite(value):
        return r"\infty" if value > 0 else (r"-\infty" if value < 0 else r"\text{NaN}")
    if value == 0 or SMALLEST_PLAIN <= abs(value) < 10 ** (digits + 3):
        rounded = float(f"{value:.{digits}g}")
        text = _plain(rounded, digits).replace(MINUS, "-")
        return text.replace(",", "{,}")
    mantissa, exponent = _split(value, digits)
    return rf"{mantissa} \times 10^{{{exponent}}}"


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else f"{MINUS}∞"
    if value == 0:
        return "0"
    return None


def _plain(value: float, digits: int) -> str:
    """A decimal with ``digits`` significant digits (never fewer integer digits than it has)."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if abs(value) < 10_000:
        text = text.replace(",", "")  # 1234 reads fine; separators help from 10,000 up
    return _minus(text)


def _split(value: float, digits: int) -> tuple[str, int]:
    """Mantissa text (trailing zeros dropped) and exponent of ``value`` in ``digits`` digits."""
    mantissa, exponent = f"{value:.{max(digits - 1, 0)}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return mantissa, int(exponent)


def _minus(text: str) -> str:
    return text.replace("-", MINUS)
