"""Exact integer arithmetic that the engine and the pages share.

Imports nothing from dlcore, so that any module can use it without an import cycle.

Example:
    >>> ceil_div(60_000, 128)
    469
"""

from __future__ import annotations


def ceil_div(numerator: int, denominator: int) -> int:
    """The smallest integer >= numerator / denominator, computed exactly on integers.

    `math.ceil(a / b)` goes through a float and rounds wrongly once a / b needs more than
    53 bits; floor division of the negated numerator never leaves the integers.

    Args:
        numerator: Any integer (NumPy integers too).
        denominator: A non-zero integer.

    Returns:
        The ceiling of the quotient, as a Python int for Python ints.

    Example:
        >>> ceil_div(7, 2), ceil_div(8, 2), ceil_div(0, 5)
        (4, 4, 0)
        >>> ceil_div(2**60 + 1, 1) == 2**60 + 1
        True
    """
    return -(-numerator // denominator)
