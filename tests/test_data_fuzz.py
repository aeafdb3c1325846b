"""Property tests of the CSV upload path on hostile and broken input.

Whatever a learner uploads, ``csv_numeric_columns`` and ``load_house_prices_csv`` either
return a usable result or raise ``InvalidDataset``; nothing else escapes (no pandas
ParserError, UnicodeDecodeError, ValueError, IndexError ...). A well-formed table is
accepted with exactly the values written in it. Examples are bounded so that the file runs
in well under a minute on two busy cores.
"""

from __future__ import annotations

import io
import math

import numpy as np
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dlcore.data import MIN_CSV_ROWS, HouseDataset, csv_numeric_columns, load_house_prices_csv
from dlcore.errors import InvalidDataset

FUZZ = settings(
    max_examples=120,
    deadline=None,  # the first example pays for importing pandas; the machine is shared
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: CI failures are reproducible
)


def check_dataset(dataset: HouseDataset) -> None:
    """What every accepted upload must satisfy before it reaches training."""
    assert isinstance(dataset, HouseDataset)
    assert dataset.area.dtype == np.float64 and dataset.price.dtype == np.float64
    assert dataset.area.shape == dataset.price.shape == (len(dataset),)
    assert len(dataset) >= MIN_CSV_ROWS
    assert np.isfinite(dataset.area).all() and np.isfinite(dataset.price).all()
    assert (dataset.area > 0).all()
    assert np.ptp(dataset.area) > 0 and np.ptp(dataset.price) > 0


def load_or_refuse(payload: bytes | io.BytesIO, area: str, price: str) -> HouseDataset | None:
    """The loader's result (checked), or None when it refused with InvalidDataset."""
    try:
        dataset = load_house_prices_csv(payload, area, price)
    except InvalidDataset as exc:
        assert str(exc), "a refusal must say why"
        event("load: refused")
        return None
    check_dataset(dataset)
    event("load: accepted")
    return dataset


def columns_or_refuse(payload: bytes) -> list[str] | None:
    try:
        names = csv_numeric_columns(payload)
    except InvalidDataset as exc:
        assert str(exc)
        return None
    assert len(names) >= 2 and all(isinstance(name, str) for name in names)
    return names


# ---------------------------------------------------------------------------------------
# Random bytes and random text
# ---------------------------------------------------------------------------------------


@FUZZ
@given(payload=st.binary(max_size=4096))
def test_random_bytes_give_a_dataset_or_invalid_dataset(payload):
    names = columns_or_refuse(payload)
    load_or_refuse(payload, "area", "price")
    if names:
        load_or_refuse(payload, names[0], names[1])


CSV_ALPHABET = st.sampled_from(
    list("0123456789.,;\t\n\r\"' -+eE") + ["area", "price", "nan", "inf", "NaN", "-inf", "x", "é"]
)


@FUZZ
@given(
    text=st.lists(CSV_ALPHABET, max_size=400).map("".join),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_random_csv_like_text_gives_a_dataset_or_invalid_dataset(text, encoding):
    payload = text.encode(encoding, errors="replace")
    names = columns_or_refuse(payload)
    load_or_refuse(io.BytesIO(payload), "area", "price")
    if names:
        load_or_refuse(payload, names[-1], names[0])


# ---------------------------------------------------------------------------------------
# Random numeric tables with bad cells mixed in
# ---------------------------------------------------------------------------------------

GOOD_NUMBER = st.floats(
    min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False
) | st.integers(-(10**12), 10**12)
BAD_CELL = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "NaN",
        "NA",
        "null",
        "inf",
        "-inf",
        "Infinity",
        "1e999",
        "abc",
        "1,5",
        "0x10",
        "--1",
        "1e",
        "١٢",
        "\u00a0",
        '"7"',
    ]
)
HEADER = st.sampled_from(["area", "price", "rooms", "area ", "Price", "1", "", "a;b", "é"])


@st.composite
def tables(draw):
    """(csv bytes, header) of a random table: 2-4 columns, 0-40 rows, random delimiter.

    Each table has its own share of bad cells (none, a few, or many), so that clean
    tables, tables with one stray cell and garbage all occur.
    """
    width = draw(st.integers(2, 4))
    header = draw(st.lists(HEADER, min_size=width, max_size=width))
    bad_percent = draw(st.sampled_from([0, 0, 3, 50]))
    positive = st.floats(0.5, 1e6, allow_nan=False).map(repr)
    columns = [draw(st.sampled_from([positive, GOOD_NUMBER.map(repr)])) for _ in header]
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        row = []
        for column in columns:
            spoil = draw(st.integers(0, 99)) < bad_percent
            row.append(draw(BAD_CELL if spoil else column))
        rows.append(row)
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    lines = [delimiter.join(header), *(delimiter.join(row) for row in rows)]
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines).encode("utf-8"), header


@FUZZ
@given(table=tables(), pick=st.tuples(st.integers(0, 3), st.integers(0, 3)))
def test_numeric_tables_with_bad_cells_give_a_dataset_or_invalid_dataset(table, pick):
    payload, header = table
    names = columns_or_refuse(payload)
    area, price = header[pick[0] % len(header)], header[pick[1] % len(header)]
    load_or_refuse(payload, area, price)
    if names:
        load_or_refuse(payload, names[0], names[1])


POSITIVE = st.floats(min_value=0.5, max_value=1e6, allow_nan=False, allow_infinity=False)
FINITE = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@FUZZ
@given(
    rows=st.lists(st.tuples(POSITIVE, FINITE), min_size=MIN_CSV_ROWS, max_size=60),
    delimiter=st.sampled_from([",", ";", "\t"]),
    bad=st.one_of(st.none(), st.tuples(st.integers(0, 59), st.integers(0, 1), BAD_CELL)),
)
def test_a_well_formed_table_loads_exactly_and_one_bad_cell_is_refused(rows, delimiter, bad):
    """A clean table is accepted with its values; spoiling one cell makes it InvalidDataset."""
    area, price = (np.array(column) for column in zip(*rows, strict=True))
    assume(np.ptp(area) > 0 and np.ptp(price) > 0)
    cells = [[repr(a), repr(p)] for a, p in rows]
    if bad is not None:
        row, column, value = bad
        cells[row % len(cells)][column] = value
    payload = "\n".join(
        [f"area{delimiter}price", *(delimiter.join(pair) for pair in cells)]
    ).encode()

    if bad is None:
        dataset = load_house_prices_csv(payload, "area", "price")
        check_dataset(dataset)
        np.testing.assert_array_equal(dataset.area, area)
        np.testing.assert_array_equal(dataset.price, price)
        assert csv_numeric_columns(payload) == ["area", "price"]
    else:
        spoiled = load_or_refuse(payload, "area", "price")
        value = bad[2].strip().strip('"')
        assume(not _is_finite_number(value))  # e.g. '"7"' is a valid quoted number
        assert spoiled is None


def _is_finite_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


VALID_CSV = "area,price,rooms\n" + "".join(
    f"{40 + 7 * i}.5,{150_000 + 9_000 * i},{1 + i % 5}\n" for i in range(30)
)


@FUZZ
@given(
    cut=st.integers(0, len(VALID_CSV)),
    flips=st.lists(st.tuples(st.integers(0, len(VALID_CSV) - 1), st.integers(0, 255)), max_size=6),
)
def test_a_truncated_or_corrupted_valid_file_gives_a_dataset_or_invalid_dataset(cut, flips):
    payload = bytearray(VALID_CSV.encode())
    for index, value in flips:
        payload[index] = value
    payload = bytes(payload[:cut])
    names = columns_or_refuse(payload)
    dataset = load_or_refuse(payload, "area", "price")
    if dataset is not None and not flips:
        assert len(dataset) == payload.count(b"\n") - 1 + (not payload.endswith(b"\n"))
    if names:
        load_or_refuse(payload, names[0], names[-1])


# ---------------------------------------------------------------------------------------
# The column count taken before parsing bounds what pandas builds
# ---------------------------------------------------------------------------------------

QUOTING = st.sampled_from(list('ab1,;\t" ') + ['""', "\n", "\n\n", " \n"])


@FUZZ
@given(text=st.lists(QUOTING, max_size=60).map("".join), delimiter=st.sampled_from(",;\t"))
def test_the_header_width_counted_before_parsing_is_what_pandas_reads(text, delimiter):
    """The cheap count (quotes, quoted line breaks, stray quotes, blank lines first) is
    the one the column limit relies on: pandas never builds more columns than it."""
    import pandas as pd

    from dlcore import data

    header_at = data._BLANK_LINES[delimiter].match(text).end()
    width, _ = data._record_width(text, header_at, delimiter, limit=1000)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, index_col=False, nrows=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        event("pandas refused")
        return
    event("equal" if len(frame.columns) == width else "counted more")
    assert len(frame.columns) <= width


@FUZZ
@given(text=st.lists(QUOTING, max_size=60).map("".join), delimiter=st.sampled_from(",;\t"))
def test_a_table_that_passes_the_shape_check_never_loses_or_shifts_values(text, delimiter):
    """pandas warns (index_col=False: drops) or shifts (default: row labels) the values of
    a first row wider than the header: the shape check refuses those rows first."""
    import warnings

    import pandas as pd

    from dlcore import data

    header_at = data._BLANK_LINES[delimiter].match(text).end()
    try:
        data._check_shape(text, header_at, delimiter)
    except InvalidDataset:
        event("refused by the shape check")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            pd.read_csv(io.StringIO(text), sep=delimiter, index_col=False, low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            event("refused by pandas")
