"""MNIST and house-price data: load, validate, normalize, split.

Nothing here imports TensorFlow: the Home page, the cache and the CSV upload on the
regression page use this module cheaply. The arrays it returns are plain NumPy.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dlcore import readable, settings
from dlcore.errors import DataUnavailable, InvalidDataset
from dlcore.i18n import N_, Message
from dlcore.memo import LruMemo

# ---------------------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------------------

MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
MNIST_FILE = "mnist.npz"
_MNIST_SHAPES = {
    "x_train": (60_000, 28, 28),
    "y_train": (60_000,),
    "x_test": (10_000, 28, 28),
    "y_test": (10_000,),
}

# Verified arrays, keyed by (path, size, mtime) so that a changed file is verified again.
_mnist_cache: dict[tuple[str, int, int], tuple] = {}
_mnist_lock = threading.Lock()


def _fix_hint(path: Path) -> Message:
    return Message(
        "Expected the verified MNIST file at {path}. Set DLCORE_DATA_DIR to a folder that "
        "holds the verified mnist.npz (sha256 {sha256}…), or restore "
        "dlcore/datasets/mnist.npz from the repository (git checkout -- dlcore/datasets).",
        path=path,
        sha256=MNIST_SHA256[:12],
    )


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the full MNIST database offline, verified by its sha256.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 images of shape 60000x28x28 and
        10000x28x28 with uint8 labels, read-only (they are shared by every caller).

    Raises:
        DataUnavailable: the file is missing, unreadable or does not match MNIST_SHA256.
    """
    path = settings.data_dir() / MNIST_FILE
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataUnavailable(Message("MNIST data is missing. {fix}", fix=_fix_hint(path))) from exc
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _mnist_lock:
        if key not in _mnist_cache:
            _mnist_cache.clear()  # keep at most one copy (55 MB) in memory
            _mnist_cache[key] = _read_verified_mnist(path)
        return _mnist_cache[key]


def _read_verified_mnist(path: Path) -> tuple:
    """Read, hash-check and unpack the npz file; every failure becomes DataUnavailable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        cause = Message(
            "MNIST data cannot be read ({error}). {fix}", error=exc, fix=_fix_hint(path)
        )
        raise DataUnavailable(cause) from exc
    if hashlib.sha256(raw).hexdigest() != MNIST_SHA256:
        fix = _fix_hint(path)
        raise DataUnavailable(Message("MNIST data is corrupt (checksum mismatch). {fix}", fix=fix))
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in _MNIST_SHAPES}
    for name, shape in _MNIST_SHAPES.items():
        arrays[name].setflags(write=False)
        if arrays[name].shape != shape or arrays[name].dtype != np.uint8:
            layout = Message(
                "MNIST array {name} has an unexpected layout. {fix}", name=name, fix=_fix_hint(path)
            )
            raise DataUnavailable(layout)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


# ---------------------------------------------------------------------------------------
# House prices
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HouseDataset:
    """Paired house areas and prices, the data of the regression demo.

    Attributes:
        area: Living area of each house in m² (float64, 1-D, read-only).
        price: Price of each house in currency units (float64, same length, read-only).
        source: One line saying where the data came from (a Message: read in the language
            of whoever shows it; ``str()`` it where text is needed).
        area_name: Label of the area column (shown on chart axes).
        price_name: Label of the price column.
        notes: What the learner should check about how an uploaded file was read (e.g.
            decimal commas read as points); shown next to the data.
    """

    area: np.ndarray
    price: np.ndarray
    source: Message | str = Message("synthetic")
    area_name: str = "area (m²)"
    price_name: str = "price"
    notes: tuple[Message, ...] = ()

    def __post_init__(self) -> None:
        area = np.array(self.area, dtype=np.float64).reshape(-1)
        price = np.array(self.price, dtype=np.float64).reshape(-1)
        if area.shape != price.shape:
            raise ValueError(f"area has {area.size} values but price has {price.size}")
        area.setflags(write=False)
        price.setflags(write=False)
        object.__setattr__(self, "area", area)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "notes", tuple(self.notes))

    def __len__(self) -> int:
        return int(self.area.size)

    @property
    def fingerprint(self) -> str:
        """Sha256 of the two arrays' bytes: equal data gives an equal cache key."""
        digest = hashlib.sha256(self.area.tobytes())
        digest.update(self.price.tobytes())
        return digest.hexdigest()


# Parameters of the synthetic market, in plain numbers a learner can read on the page.
AREA_RANGE_M2 = (30.0, 250.0)
BASE_PRICE = 20_000.0  # fixed part of every price (land, fees), currency units
PRICE_PER_M2 = 3_000.0  # price of one square metre for a small home, currency units


def make_house_prices(
    n_samples: int = 1000, noise: float = 0.1, nonlinearity: float = 0.0, seed: int = 0
) -> HouseDataset:
    """Generate a realistic, reproducible synthetic house-price dataset.

    Areas are drawn from a right-skewed Beta(2, 3.5) distribution stretched over
    30–250 m² (most homes are small, a few are large). The noise-free price is
    ``BASE_PRICE + PRICE_PER_M2 * area * (1 + nonlinearity * (area - 30) / 220)``: linear
    when ``nonlinearity`` is 0, convex otherwise (with ``nonlinearity=1`` a square metre of
    a 250 m² home costs twice that of a 30 m² one). The noise is multiplicative,
    ``price * exp(noise * z)`` with z standard normal, so prices vary by about ``noise``
    (10 % at 0.1) relative to their level and never turn negative.

    Args:
        n_samples: Number of houses, 10 to 100,000.
        noise: Relative spread of prices around the trend, 0 to 1.
        nonlinearity: Strength of the convex term, 0 to 5.
        seed: Seed of the random generator; the same arguments give the same data.

    Returns:
        A HouseDataset with areas rounded to 0.1 m² and prices to whole currency units.

    Raises:
        ValueError: an argument is out of range.

    Example:
        >>> data = make_house_prices(n_samples=50, seed=1)
        >>> len(data), bool(data.area.min() >= 30)
        (50, True)
    """
    _check_generator_args(n_samples, noise, nonlinearity, seed)
    rng = np.random.default_rng(seed)
    low, high = AREA_RANGE_M2
    area = np.round(low + (high - low) * rng.beta(2.0, 3.5, size=n_samples), 1)
    trend = BASE_PRICE + PRICE_PER_M2 * area * (1.0 + nonlinearity * (area - low) / (high - low))
    price = np.round(trend * np.exp(noise * rng.standard_normal(n_samples)))
    source = Message(
        "synthetic: {count} houses, noise {noise}, nonlinearity {nonlinearity}, seed {seed}",
        count=readable.grouped(n_samples),
        noise=f"{noise:g}",
        nonlinearity=f"{nonlinearity:g}",
        seed=seed,
    )
    return HouseDataset(area=area, price=price, source=source)


def _check_generator_args(n_samples: int, noise: float, nonlinearity: float, seed: int) -> None:
    for name, value, low, high in (("n_samples", n_samples, 10, 100_000), ("seed", seed, 0, 2**32)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    for name, value, high in (("noise", noise, 1.0), ("nonlinearity", nonlinearity, 5.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not 0.0 <= float(value) <= high:  # NaN fails this comparison too
            raise ValueError(f"{name} must be between 0 and {high:g}, got {value}")


# ---------------------------------------------------------------------------------------
# CSV upload
# ---------------------------------------------------------------------------------------
#
# The server is shared by a classroom, so an upload's work is bounded before the expensive
# part: the header's columns and the table's cells are counted on the text first (a file
# of a million columns is refused in milliseconds), then pandas parses it once and each
# column is analysed once. The analysis (or the refusal) is remembered by the sha256 of
# the bytes: the column pickers and the load of one rerun, and every later rerun of any
# session, cost a hash instead of a parse.

MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_CSV_ROWS = 100_000
MIN_CSV_ROWS = 10
MAX_CSV_COLUMNS = 100  # a house-price file needs two
MAX_CSV_NAME_CHARS = 200
# Values pandas may build from one upload (data rows × columns): 100,000 rows of 5 columns.
# The costliest half million (decimal commas, or a text cell in every column) parse and
# check in 0.3-0.6 s of CPU and < 100 MB; plain numbers in ~0.1 s (tests/test_csv_hostile.py).
MAX_CSV_CELLS = 500_000
# The largest |value| a house dataset may hold: squares (variance, MSE in currency) stay
# far below float64's 1.8e308, and no price or area in any currency comes near it.
MAX_ABS_VALUE = 1e15

_CSV_MEMO_ENTRIES = 32
_CSV_MEMO_BYTES = 64 * 2**20
_CSV_SAMPLE = 1000  # filled cells that decide whether a column holds numbers or text
_SAVE_AS_CSV = N_("save it as CSV UTF-8 (File → Save as → CSV UTF-8) and upload that file.")
_EXCEL_MAGIC = {
    b"PK\x03\x04": N_("an Excel file (.xlsx, or another ZIP archive)"),
    b"\xd0\xcf\x11\xe0": N_("an Excel file (.xls, the old format)"),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_QUOTED_IN_LINE = re.compile(r'"[^"\n]*"')
# Lines pandas skips as blank: spaces and tabs, or spaces alone where a tab separates values.
_BLANK_LINES = {sep: re.compile(r"(?:[ \t]*\n)*") for sep in ",;"} | {
    "\t": re.compile(r"(?: *\n)*")
}
_PARSER_WIDTH = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
# A number a person wrote with thousands separators (1,234,000  1.234.567,5  1 234 000)
# or a decimal comma (123,5): offered in the pickers, and named when refused.
_SEP = "[,.' \u00a0\u202f]"  # the last two: no-break spaces, as spreadsheets write them
_THOUSANDS = re.compile(
    rf"[+-]?[0-9]{{1,3}}(?P<sep>{_SEP})[0-9]{{3}}(?:(?P=sep)[0-9]{{3}})*(?:[.,][0-9]+)?"
)
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]*,[0-9]+")
# Either, without the back reference (pandas may hand the pattern to pyarrow's RE2).
_NUMBER_LIKE = rf"[+-]?[0-9]{{1,3}}(?:{_SEP}[0-9]{{3}})+(?:[.,][0-9]+)?|{_DECIMAL_COMMA.pattern}"
# What pandas.to_numeric reads as a (finite or infinite) number, ASCII digits only.
_PLAIN_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def _fields_pattern(delimiter: str) -> re.Pattern:
    """One CSV field as pandas' tokenizer reads it (a quote opens a field only at its start).

    Possessive quantifiers keep the match linear on hostile input (an unclosed quote).
    """
    sep = re.escape(delimiter)
    return re.compile(rf'(?:"(?:[^"]++|"")*+"[^{sep}\n]*+|[^{sep}\n]*+)')


_FIELD = {delimiter: _fields_pattern(delimiter) for delimiter in ",;\t"}


@dataclass(frozen=True)
class _CsvColumn:
    """One column of an analysed upload.

    Attributes:
        name: The column's name in the header.
        values: float64 per data row (read-only); NaN where a cell is empty or unreadable.
        empty_row: First data row (0-based) whose cell is empty or NA, else None.
        bad: First data row (0-based) whose cell is not a finite number, and its text.
        offered: Most cells are numbers (or numbers written with separators): the column
            is offered in the pickers, so choosing it explains its bad cells.
        notes: What the learner should check about how the column was read.
    """

    name: str
    values: np.ndarray
    empty_row: int | None
    bad: tuple[int, str] | None
    offered: bool
    notes: tuple[Message, ...] = ()


@dataclass(frozen=True)
class _CsvTable:
    """An analysed upload: its columns in file order, its row count and its separator."""

    columns: tuple[_CsvColumn, ...]
    n_rows: int
    delimiter: str

    @property
    def nbytes(self) -> int:
        return sum(column.values.nbytes + 200 for column in self.columns)

    def column(self, name: str) -> _CsvColumn:
        for column in self.columns:
            if column.name == name:
                return column
        valid = ", ".join(column.name for column in self.columns)
        unknown = Message(
            "There is no column '{name}'; the columns are: {valid}.", name=_shown(name), valid=valid
        )
        raise InvalidDataset(unknown)


def _memo_size(entry: _CsvTable | Message) -> int:
    return entry.nbytes if isinstance(entry, _CsvTable) else len(str(entry))


# Analyses (or refusal messages, translated when read) by sha256 of the upload, least
# recently used first.
_csv_memo: LruMemo[_CsvTable | Message] = LruMemo(_CSV_MEMO_ENTRIES, _CSV_MEMO_BYTES, _memo_size)


def _read_bytes(file: bytes | BinaryIO) -> bytes:
    """Bytes of an upload, reading at most one byte past the size limit."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file)
    if hasattr(file, "seek"):
        file.seek(0)  # Streamlit reruns hand us the same UploadedFile again
    return file.read(MAX_CSV_BYTES + 1)


def _analyze(raw: bytes) -> _CsvTable:
    """The upload's analysis, parsed at most once per content while it stays remembered.

    Raises:
        InvalidDataset: the file cannot be read as a table (remembered too: a rerun with the
            same bad file costs a hash).
    """
    if not raw or raw.isspace():
        raise InvalidDataset(Message("The file is empty."))
    if len(raw) > MAX_CSV_BYTES:
        limit = MAX_CSV_BYTES // 2**20
        raise InvalidDataset(Message("The file is larger than {limit} MB.", limit=limit))
    key = hashlib.sha256(raw).hexdigest()
    known = _csv_memo.get(key)
    if known is None:
        # Parsed outside the lock: other sessions' reruns must not wait for this upload.
        try:
            known = _parse_table(raw)
        except InvalidDataset as exc:
            known = exc.message
        _csv_memo.put(key, known)
    if isinstance(known, Message):
        raise InvalidDataset(known)
    return known


def _parse_table(raw: bytes) -> _CsvTable:
    """Decode, bound, parse and analyse an upload (the expensive path, once per content)."""
    text = _decode(raw)
    delimiter = _choose_delimiter(text, _BLANK_LINES[","].match(text).end())
    header_at = _BLANK_LINES[delimiter].match(text).end()  # pandas skips them before the header
    _check_shape(text, header_at, delimiter)
    frame = _parse_frame(text, delimiter)
    long = next((str(n) for n in frame.columns if len(str(n)) > MAX_CSV_NAME_CHARS), None)
    if long is not None:  # names are shown in pickers, charts and messages
        raise InvalidDataset(
            Message(
                "The column name '{name}' has {length} characters; at most {limit} are "
                "supported. Is the first line the column names?",
                name=_shown(long),
                length=readable.grouped(len(long)),
                limit=MAX_CSV_NAME_CHARS,
            )
        )
    if all(_is_number(name) for name in frame.columns):
        raise InvalidDataset(
            Message("The first line must hold the column names (it holds numbers).")
        )
    if len(frame) > MAX_CSV_ROWS:
        limit = readable.grouped(MAX_CSV_ROWS)
        raise InvalidDataset(
            Message("The file has more than {limit} rows, the limit.", limit=limit)
        )
    columns = tuple(_analyze_column(str(name), frame[name], delimiter) for name in frame.columns)
    return _CsvTable(columns, len(frame), delimiter)


def _decode(raw: bytes) -> str:
    """Text of an upload: UTF-8 (BOM or not), UTF-16 ("Unicode text"), else Windows-1252.

    Line ends become "\\n": pandas reads a lone "\\r" as one too, and the scans count "\\n".
    """
    for magic, kind in _EXCEL_MAGIC.items():
        if raw.startswith(magic):
            raise InvalidDataset(
                Message(
                    "This is {kind}, not a CSV text file: {fix}",
                    kind=Message(kind),
                    fix=Message(_SAVE_AS_CSV),
                )
            )
    encoding = _utf16_encoding(raw)
    if encoding is not None:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise InvalidDataset(
                Message(
                    "This looks like UTF-16 'Unicode text' but cannot be decoded: {fix}",
                    fix=Message(_SAVE_AS_CSV),
                )
            ) from exc
    elif b"\x00" in raw:
        raise InvalidDataset(Message("The file is not a text CSV file (it contains binary data)."))
    else:
        text = _decode_8bit(raw)
    if _CONTROL.search(text):
        raise InvalidDataset(
            Message("The file is not a text CSV file (it contains control bytes).")
        )
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _utf16_encoding(raw: bytes) -> str | None:
    """The codec of UTF-16 text (Excel's 'Unicode text' export), else None.

    With a byte-order mark it is certain; without one, text in Latin letters has a NUL in
    (nearly) every other byte, which no other text encoding has.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = raw[:4096]
    even, odd = head[0::2], head[1::2]
    if len(odd) < 2:
        return None
    if odd.count(0) >= 0.9 * len(odd) and not even.count(0):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and not odd.count(0):
        return "utf-16-be"
    return None


def _decode_8bit(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Spreadsheets on Windows often export cp1252; bytes it cannot map are binary.
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InvalidDataset(Message("The file is not text: save it as UTF-8 CSV.")) from exc


def _line_end(text: str, start: int) -> int:
    end = text.find("\n", start)
    return len(text) if end < 0 else end


def _choose_delimiter(text: str, header_at: int) -> str:
    """The separator the header line uses most outside quotes; the sniffer breaks ties."""
    header = _QUOTED_IN_LINE.sub("", text[header_at : _line_end(text, header_at)])
    counts = sorted(((header.count(d), d) for d in ",;\t"), reverse=True)
    (most, delimiter), (second, _) = counts[:2]
    if most > second:
        return delimiter
    try:
        return csv.Sniffer().sniff(text[header_at : header_at + 4096], delimiters=",;\t").delimiter
    except csv.Error:
        return ","  # one column, or no consistent separator: pandas reports what it finds


def _record_width(text: str, start: int, delimiter: str, limit: int) -> tuple[int, int]:
    """Fields in the record at ``start`` as pandas splits them, and the record's end.

    Counting stops past ``limit`` fields: a line of a million costs what one of 100 does.
    """
    field, pos, fields = _FIELD[delimiter], start, 0
    while True:
        pos = field.match(text, pos).end()
        fields += 1
        if pos >= len(text) or text[pos] == "\n" or fields > limit:
            return fields, pos
        pos += 1  # past the separator


def _check_shape(text: str, header_at: int, delimiter: str) -> None:
    """Refuse, before pandas runs, a table too wide or too big to analyse in about a second."""
    columns, header_end = _record_width(text, header_at, delimiter, MAX_CSV_COLUMNS)
    if columns > MAX_CSV_COLUMNS:
        shown = max(text.count(delimiter, header_at, _line_end(text, header_at)) + 1, columns)
        raise InvalidDataset(
            Message(
                "The file has {columns} columns; at most {limit} are supported. "
                "Keep the area and price columns.",
                columns=readable.grouped(shown),
                limit=MAX_CSV_COLUMNS,
            )
        )
    rows = text.count("\n", header_end + 1) + (not text.endswith("\n"))
    if rows * columns > MAX_CSV_CELLS:
        raise InvalidDataset(_too_many_cells(rows, columns))
    first = _BLANK_LINES[delimiter].match(text, header_end + 1).end()
    if first < len(text) and _record_width(text, first, delimiter, columns)[0] > columns:
        # pandas would silently take the extra values of the first row as row labels.
        raise InvalidDataset(
            Message(
                "Data row 1 has more values than the first line has column names ({columns}). "
                "{hint}",
                columns=columns,
                hint=_split_hint(delimiter),
            )
        )


def _too_many_cells(rows: int, columns: int) -> Message:
    if columns * MAX_CSV_ROWS <= MAX_CSV_CELLS:
        return Message(
            "The file has {rows} lines; at most {limit} rows are supported.",
            rows=readable.grouped(rows),
            limit=readable.grouped(MAX_CSV_ROWS),
        )
    return Message(
        "The file has {rows} rows × {columns} columns = {values} values; at most {limit} are "
        "supported. Keep only the area and price columns.",
        rows=readable.grouped(rows),
        columns=columns,
        values=readable.grouped(rows * columns),
        limit=readable.grouped(MAX_CSV_CELLS),
    )


def _split_hint(delimiter: str) -> Message:
    if delimiter == ",":
        return Message(
            "Check that every row has one value per column. A decimal comma splits a number "
            "in two (1,5 reads as 1 and 5): use a dot."
        )
    return Message("Check that every row has one value per column.")


def _exact_floats(pd) -> dict:
    """The read_csv option that reads each float cell as Python's float() would.

    pandas before 3.1 needs float_precision="round_trip" for that; 3.1 always reads floats
    that way and deprecates the argument (a Pandas4Warning on every read).
    """
    major, minor = (int(part) for part in pd.__version__.split(".")[:2])
    return {} if (major, minor) >= (3, 1) else {"float_precision": "round_trip"}


def _parse_frame(text: str, delimiter: str):
    """The table as pandas reads it: numeric columns as numbers, the others as strings."""
    import pandas as pd

    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            index_col=False,  # never row labels: _check_shape refused rows wider than the header
            nrows=MAX_CSV_ROWS + 1,
            skip_blank_lines=True,
            low_memory=False,  # one type per column, decided on the whole column
            **_exact_floats(pd),  # exactly Python's float() of each cell
        )
    except pd.errors.ParserError as exc:
        width = _PARSER_WIDTH.search(str(exc))
        if "EOF inside string" in str(exc):
            raise InvalidDataset(
                Message(
                    'A quote (") opens a value that is never closed, so the rest of the file '
                    "reads as that one value: remove the stray quote or close it."
                )
            ) from exc
        if width is None:
            raise InvalidDataset(_unreadable(exc)) from exc
        expected, line, saw = width.groups()
        raise InvalidDataset(
            Message(
                "Line {line} has {saw} values but the first line names {expected} columns. {hint}",
                line=line,
                saw=saw,
                expected=expected,
                hint=_split_hint(delimiter),
            )
        ) from exc
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidDataset(_unreadable(exc)) from exc


def _unreadable(error: Exception) -> Message:
    return Message("The file is not a readable CSV table ({error}).", error=error)


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _shown(text: str, limit: int = 40) -> str:
    """A cell or name as a message quotes it: a 10 MB cell must not become a 10 MB message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(mask: np.ndarray) -> int | None:
    found = np.flatnonzero(mask)
    return int(found[0]) if found.size else None


def _analyze_column(name: str, column, delimiter: str) -> _CsvColumn:
    """What the pickers and the loader need of one column, computed once per upload."""
    if column.dtype.kind in "iuf":  # pandas read every cell as a number (or NA)
        values = column.to_numpy(dtype=np.float64)
        infinite = _first(np.isinf(values))
        bad = None if infinite is None else (infinite, f"{readable.number(values[infinite], 6)}")
        offered = bool(np.isfinite(values).any())
        return _finish_column(name, values, _first(np.isnan(values)), bad, offered, ".")
    return _text_column(name, column, delimiter)


def _finish_column(name, values, empty_row, bad, offered, mark, note=None) -> _CsvColumn:
    values = np.where(np.isfinite(values), values, np.nan)  # a fresh array we may freeze
    values.setflags(write=False)
    notes = tuple(filter(None, [note, _grouping_note(name, values, mark)]))
    return _CsvColumn(name, values, empty_row, bad, offered, notes)


def _text_column(name: str, column, delimiter: str) -> _CsvColumn:
    """A column pandas could not read as numbers: find out why, naming the first bad cell.

    Cells are matched against a number pattern first and only the matches are converted:
    converting a cell that is not a number costs ten times more (1 µs).
    """
    cells = column.astype(str).str.strip().where(column.notna())
    empty = (cells.isna() | (cells == "")).to_numpy(dtype=bool)
    number = _matches(cells, _PLAIN_NUMBER)
    sample = np.flatnonzero(~empty)[:_CSV_SAMPLE]
    like = number[sample] | _matches(cells.iloc[sample], _NUMBER_LIKE)
    if 2 * np.count_nonzero(like) <= sample.size:  # an empty column too
        # Mostly text (a city, a date): not offered; its first non-number says why.
        row = next((int(i) for i in sample if not number[i]), None)
        bad = None if row is None else (row, _shown(str(cells.iloc[row])))
        return _CsvColumn(name, np.full(len(cells), np.nan), _first(empty), bad, False)
    values = np.full(len(cells), np.nan)
    values[number] = _to_float(cells[number])
    note, mark = None, "."
    if delimiter in ";\t":  # where a comma is the spreadsheet's decimal mark
        note = _read_decimal_commas(name, cells, values, ~empty & ~number)
        mark = "," if note else "."
    bad_row = _first(~empty & ~np.isfinite(values))
    bad = None if bad_row is None else (bad_row, _shown(str(cells.iloc[bad_row])))
    return _finish_column(name, values, _first(empty), bad, True, mark, note)


def _matches(cells, pattern: str) -> np.ndarray:
    return cells.str.fullmatch(pattern).to_numpy(dtype=bool, na_value=False)


def _to_float(cells) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _read_decimal_commas(
    name: str, cells, values: np.ndarray, unread: np.ndarray
) -> Message | None:
    """Read 123,5 as 123.5 (in place) in a column that writes no number with a dot; say so."""
    comma = unread & _matches(cells, _DECIMAL_COMMA.pattern)
    if not comma.any():
        return None
    dotted = np.isfinite(values) & cells.str.contains(".", regex=False).to_numpy(
        dtype=bool, na_value=False
    )
    if dotted.any():
        return None  # dots and commas mixed: which is the decimal mark? The bad cell says.
    values[comma] = _to_float(cells[comma].str.replace(",", ".", regex=False))
    row = _first(comma)
    return Message(
        "Column '{name}': decimal commas were read as decimal points ('{cell}' → {value}).",
        name=name,
        cell=_shown(cells.iloc[row]),
        value=readable.number(values[row], 6),
    )


def _grouping_note(name: str, values: np.ndarray, mark: str) -> Message | None:
    """Warn when a column's numbers look like thousands written with a separator (670.369).

    Such a column parses, so it would otherwise be misread in silence: every value is
    below 1000 with at most three decimals, and most have exactly three.
    """
    finite = values[np.isfinite(values)]
    if finite.size < 2 or np.abs(finite).max() >= 1000 or (np.abs(finite[finite != 0]) < 1).any():
        return None
    with np.errstate(all="ignore"):
        whole = lambda x: np.abs(x - np.round(x)) < 1e-6  # noqa: E731
        three = whole(finite * 1000) & ~whole(finite * 100)
        if not whole(finite * 1000).all() or 2 * three.sum() < finite.size:
            return None
    example = f"{finite[three][0]:.3f}".replace(".", mark)
    if mark == ".":
        return Message(
            "Column '{name}': every value has three digits after the dot (e.g. {example}), so "
            "they are read as decimals. If the dot separates thousands ({example} meaning "
            "{thousands}), remove it from the file and upload it again.",
            name=name,
            example=example,
            thousands=example.replace(mark, ""),
        )
    return Message(
        "Column '{name}': every value has three digits after the comma (e.g. {example}), so "
        "they are read as decimals. If the comma separates thousands ({example} meaning "
        "{thousands}), remove it from the file and upload it again.",
        name=name,
        example=example,
        thousands=example.replace(mark, ""),
    )


def _cell_hint(cell: str, delimiter: str) -> Message | str:
    """Why a cell that looks like a number is not read as one, and how to write it."""
    grouped = _THOUSANDS.fullmatch(cell)
    if grouped and not (grouped.group("sep") == "," and cell.count(",") == 1 and "." not in cell):
        digits = cell.replace(grouped.group("sep"), "").replace(",", ".")
        return Message(
            "It looks like a number with thousands separators: remove them (write {digits}).",
            digits=digits,
        )
    if _DECIMAL_COMMA.fullmatch(cell):
        whole, _, decimals = cell.partition(",")
        thousands, decimal = whole + decimals, whole + "." + decimals
        if grouped:  # 1,234: thousands or a decimal comma? Only the learner knows.
            return Message(
                "If the comma separates thousands, write {thousands}; if it is a decimal comma, "
                "write {decimal} (CSV files use a dot for decimals).",
                thousands=thousands,
                decimal=decimal,
            )
        if delimiter in ";\t":
            return Message(
                "Use a dot for decimals (this column also has numbers with a dot): write "
                "{decimal}.",
                decimal=decimal,
            )
        return Message("Use a dot for decimals: write {decimal}.", decimal=decimal)
    return ""


def _too_few_columns(table: _CsvTable, names: list[str]) -> Message:
    """Why fewer than two columns are offered, naming a column that was not."""
    if names:
        found = Message(
            "The CSV needs at least two numeric columns (area and price); numeric columns "
            "found: {names}.",
            names=", ".join(names),
        )
    else:
        found = Message(
            "The CSV needs at least two numeric columns (area and price); numeric columns "
            "found: none."
        )
    if len(table.columns) == 1:
        why = Message(
            "The file has a single column ('{name}'): separate the values with commas, "
            "semicolons or tabs.",
            name=table.columns[0].name,
        )
    else:
        text = next(column for column in table.columns if not column.offered)
        if text.bad is None:
            why = Message("Column '{name}' is empty.", name=text.name)
        else:
            row, cell = text.bad
            why = Message(
                "Column '{name}' holds text (data row {row}: '{cell}').",
                name=text.name,
                row=row + 1,
                cell=cell,
            )
    return Message("{found} {why}", found=found, why=why)


def csv_numeric_columns(file: bytes | BinaryIO) -> list[str]:
    """Names of the CSV's numeric columns, in file order, to fill the column pickers.

    A column is offered when most of its filled cells (judged on the first 1,000) are
    numbers, or numbers written with separators: choosing one with a bad cell makes
    load_house_prices_csv name that cell's row and what to fix. The file is parsed once
    per content, here or in load_house_prices_csv, whichever comes first.

    Raises:
        InvalidDataset: the file is empty, binary, too big or too wide, not a table, or
            has fewer than two numeric columns (the message names a text column).
    """
    table = _analyze(_read_bytes(file))
    names = [column.name for column in table.columns if column.offered]
    if len(names) < 2:
        raise InvalidDataset(_too_few_columns(table, names))
    return names


def load_house_prices_csv(
    file: bytes | BinaryIO, area_column: str, price_column: str
) -> HouseDataset:
    """Load and validate an uploaded CSV of house areas and prices.

    Args:
        file: The CSV as bytes or a binary file-like object (e.g. Streamlit's UploadedFile).
        area_column: Name of the column holding areas (must be finite and positive).
        price_column: Name of the column holding prices (must be finite).

    Returns:
        A HouseDataset whose source names the columns and the row count, and whose notes
        say what to check about how a column was read (decimal commas, 670.369).

    Raises:
        InvalidDataset: the message names the problem (empty, binary, too large, too many
            or too few rows, unknown column, empty cell, non-numeric value and how to write
            it, a value too large, bad area, constant column).
    """
    table = _analyze(_read_bytes(file))
    if area_column == price_column:
        raise InvalidDataset(Message("Choose two different columns for area and price."))
    area, price = table.column(area_column), table.column(price_column)
    for column in (area, price):
        _check_cells(column, table.delimiter)
    if table.n_rows < MIN_CSV_ROWS:
        raise InvalidDataset(
            Message(
                "The file has {rows} rows; at least {needed} needed.",
                rows=table.n_rows,
                needed=MIN_CSV_ROWS,
            )
        )
    _check_house_values(area, price)
    source = Message(
        "uploaded CSV: {rows} rows, columns '{area}' and '{price}'",
        rows=table.n_rows,
        area=area_column,
        price=price_column,
    )
    notes = area.notes + price.notes
    return HouseDataset(area.values, price.values, source, area_column, price_column, notes)


def _check_cells(column: _CsvColumn, delimiter: str) -> None:
    """Every cell of the column is a finite number of a size we can compute with."""
    name = column.name
    if column.empty_row is not None:
        raise InvalidDataset(
            Message(
                "Column '{name}' has an empty or missing (NaN) cell on data row {row}.",
                name=name,
                row=column.empty_row + 1,
            )
        )
    if column.bad is not None:
        row, cell = column.bad
        not_finite = Message(
            "Column '{name}' has a value that is not a finite number on data row {row}: '{cell}'.",
            name=name,
            row=row + 1,
            cell=cell,
        )
        hint = _cell_hint(cell, delimiter)
        raise InvalidDataset(
            Message("{error} {hint}", error=not_finite, hint=hint) if hint else not_finite
        )
    huge = _first(np.abs(column.values) > MAX_ABS_VALUE)
    if huge is not None:
        raise InvalidDataset(
            Message(
                "Column '{name}' has a value too large to compute with on data row {row}: "
                "{value}. Values up to {limit} in size are supported: use a larger unit "
                "(e.g. thousands).",
                name=name,
                row=huge + 1,
                value=readable.number(column.values[huge], 6),
                limit=readable.number(MAX_ABS_VALUE),
            )
        )


def _check_house_values(area: _CsvColumn, price: _CsvColumn) -> None:
    bad = _first(area.values <= 0)
    if bad is not None:
        raise InvalidDataset(
            Message(
                "Column '{name}' must hold positive areas; data row {row} has {value}.",
                name=area.name,
                row=bad + 1,
                value=readable.number(area.values[bad], 6),
            )
        )
    for column in (area, price):
        if np.ptp(column.values) == 0:
            same = Message("Column '{name}' has the same value in every row.", name=column.name)
            raise InvalidDataset(same)


# ---------------------------------------------------------------------------------------
# Scaling and splitting
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scaler:
    """An affine rescaling ``x' = (x - offset) / scale`` and its exact inverse.

    Attributes:
        method: "minmax" (offset = min, scale = max - min: maps the data to [0, 1], as
            in the tutorial) or "standard" (offset = mean, scale = standard deviation).
        offset: The value subtracted first.
        scale: The positive divisor.
    """

    method: str
    offset: float
    scale: float

    @property
    def formula(self) -> str:
        """The LaTeX formula of transform(), as the page shows it."""
        return SCALER_METHODS[self.method][1]

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Map raw values to the normalized scale."""
        return (np.asarray(x, dtype=np.float64) - self.offset) / self.scale

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Map normalized values back to raw units."""
        return np.asarray(x, dtype=np.float64) * self.scale + self.offset


def _fit_minmax(values: np.ndarray) -> tuple[float, float]:
    return float(values.min()), float(values.max() - values.min())


def _fit_standard(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std())


# Each method: (fit function returning (offset, scale), LaTeX formula of the transform).
SCALER_METHODS = {
    "minmax": (_fit_minmax, r"x' = \frac{x - \min(x)}{\max(x) - \min(x)}"),
    "standard": (_fit_standard, r"x' = \frac{x - \mu}{\sigma}"),
}


def fit_scaler(values: np.ndarray, method: str = "minmax") -> Scaler:
    """Fit a Scaler to values (fit on the training split only, then reuse it).

    Raises:
        ValueError: unknown method.
        InvalidDataset: the values are empty, not finite, or all equal (no scale).
    """
    if method not in SCALER_METHODS:
        raise ValueError(f"Unknown scaling {method!r}; valid: {', '.join(SCALER_METHODS)}")
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.isfinite(values).all():
        raise InvalidDataset(
            Message("Cannot scale: the values are empty or not all finite numbers.")
        )
    with np.errstate(over="ignore", invalid="ignore"):  # checked just below, with a reason
        offset, scale = SCALER_METHODS[method][0](values)
    if not (math.isfinite(offset) and math.isfinite(scale)):
        largest = readable.number(np.abs(values).max())
        if method == "minmax":
            overflow = Message(
                "Cannot scale values this large (up to {largest}): their range overflows. "
                "Use a larger unit.",
                largest=largest,
            )
        else:
            overflow = Message(
                "Cannot scale values this large (up to {largest}): their variance overflows. "
                "Use a larger unit.",
                largest=largest,
            )
        raise InvalidDataset(overflow)
    if not scale > 0:
        raise InvalidDataset(Message("Cannot scale a column whose values are all the same."))
    return Scaler(method, offset, scale)


def split_train_test(
    dataset: HouseDataset | int, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle row indices with a seed and cut them into train and test parts.

    Args:
        dataset: The dataset (or its number of rows).
        test_fraction: Share of rows held out for testing, between 0 and 1 (exclusive).
        seed: Seed of the shuffle.

    Returns:
        ``(train_idx, test_idx)``: disjoint sorted int arrays covering every row, with at
        least one row on each side.
    """
    n_rows = dataset if isinstance(dataset, int) else len(dataset)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if n_rows < 2:
        raise InvalidDataset(Message("Need at least 2 rows to split, got {rows}.", rows=n_rows))
    n_test = min(max(1, round(n_rows * test_fraction)), n_rows - 1)
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
