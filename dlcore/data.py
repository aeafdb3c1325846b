"""MNIST and house-price data: load, validate, normalize, split.

Nothing here imports TensorFlow: the Home page, the cache and the CSV upload on the
regression page use this module cheaply. The arrays it returns are plain NumPy.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dlcore import settings
from dlcore.errors import DataUnavailable, InvalidDataset

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


def _fix_hint(path: Path) -> str:
    return (
        f"Expected the verified MNIST file at {path}. Set DLCORE_DATA_DIR to a folder that "
        f"holds the verified mnist.npz (sha256 {MNIST_SHA256[:12]}…), or restore "
        "dlcore/datasets/mnist.npz from the repository (git checkout -- dlcore/datasets)."
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
        raise DataUnavailable(f"MNIST data is missing. {_fix_hint(path)}") from exc
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
        raise DataUnavailable(f"MNIST data cannot be read ({exc}). {_fix_hint(path)}") from exc
    if hashlib.sha256(raw).hexdigest() != MNIST_SHA256:
        raise DataUnavailable(f"MNIST data is corrupt (checksum mismatch). {_fix_hint(path)}")
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in _MNIST_SHAPES}
    for name, shape in _MNIST_SHAPES.items():
        arrays[name].setflags(write=False)
        if arrays[name].shape != shape or arrays[name].dtype != np.uint8:
            raise DataUnavailable(f"MNIST array {name} has an unexpected layout. {_fix_hint(path)}")
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
        source: One line saying where the data came from.
        area_name: Label of the area column (shown on chart axes).
        price_name: Label of the price column.
    """

    area: np.ndarray
    price: np.ndarray
    source: str = "synthetic"
    area_name: str = "area (m²)"
    price_name: str = "price"

    def __post_init__(self) -> None:
        area = np.array(self.area, dtype=np.float64).reshape(-1)
        price = np.array(self.price, dtype=np.float64).reshape(-1)
        if area.shape != price.shape:
            raise ValueError(f"area has {area.size} values but price has {price.size}")
        area.setflags(write=False)
        price.setflags(write=False)
        object.__setattr__(self, "area", area)
        object.__setattr__(self, "price", price)

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
    source = f"synthetic: {n_samples} houses, noise {noise:g}, nonlinearity {nonlinearity:g}"
    return HouseDataset(area=area, price=price, source=f"{source}, seed {seed}")


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

MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_CSV_ROWS = 100_000
MIN_CSV_ROWS = 10


def _read_bytes(file: bytes | BinaryIO) -> bytes:
    """Bytes of an upload, reading at most one byte past the size limit."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file)
    if hasattr(file, "seek"):
        file.seek(0)  # Streamlit reruns hand us the same UploadedFile again
    return file.read(MAX_CSV_BYTES + 1)


def _decode(raw: bytes) -> str:
    """Decode UTF-8 (with or without BOM), else Windows-1252; refuse binary content."""
    if not raw.strip():
        raise InvalidDataset("The file is empty.")
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidDataset(f"The file is larger than {MAX_CSV_BYTES // 2**20} MB.")
    if b"\x00" in raw:
        raise InvalidDataset("The file is not a text CSV file (it contains binary data).")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheets on Windows often export cp1252; bytes it cannot map are binary.
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise InvalidDataset("The file is not text: save it as UTF-8 CSV.") from exc
    control = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n")
    if control:
        raise InvalidDataset("The file is not a text CSV file (it contains control bytes).")
    return text


def _read_frame(file: bytes | BinaryIO):
    """Parse an upload into a DataFrame of strings, enforcing size and row limits."""
    import pandas as pd

    text = _decode(_read_bytes(file))
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","  # one column, or no consistent delimiter: let pandas report
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InvalidDataset(f"The file is not a readable CSV table ({exc}).") from exc
    if all(_is_number(name) for name in frame.columns):
        raise InvalidDataset("The first line must hold the column names (it holds numbers).")
    if len(frame) > MAX_CSV_ROWS:
        raise InvalidDataset(f"The file has {len(frame):,} rows; the limit is {MAX_CSV_ROWS:,}.")
    return frame


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _numeric_names(frame) -> list[str]:
    import pandas as pd

    names = []
    for name in frame.columns:
        cells = frame[name].dropna().str.strip()
        cells = cells[(cells != "").to_numpy(dtype=bool)]
        if len(cells) and pd.to_numeric(cells, errors="coerce").notna().all():
            names.append(str(name))
    return names


def csv_numeric_columns(file: bytes | BinaryIO) -> list[str]:
    """Names of the CSV's numeric columns, in file order, to fill the column pickers.

    A column counts as numeric when every non-empty cell is a number (empty cells are
    reported by load_house_prices_csv, with their row).

    Raises:
        InvalidDataset: the file is empty, binary, too big, not a table, or has fewer than
            two numeric columns.
    """
    frame = _read_frame(file)
    names = _numeric_names(frame)
    if len(names) < 2:
        found = ", ".join(names) or "none"
        raise InvalidDataset(
            "The CSV needs at least two numeric columns (area and price); "
            f"numeric columns found: {found}."
        )
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
        A HouseDataset whose source names the columns and the row count.

    Raises:
        InvalidDataset: the message names the problem (empty, binary, too large, too many
            or too few rows, unknown column, empty cell, non-numeric value, bad area).
    """
    frame = _read_frame(file)
    if area_column == price_column:
        raise InvalidDataset("Choose two different columns for area and price.")
    area = _numeric_column(frame, area_column)
    price = _numeric_column(frame, price_column)
    if len(frame) < MIN_CSV_ROWS:
        raise InvalidDataset(f"The file has {len(frame)} rows; at least {MIN_CSV_ROWS} needed.")
    bad = np.flatnonzero(area <= 0)
    if bad.size:
        raise InvalidDataset(
            f"Column '{area_column}' must hold positive areas; data row {bad[0] + 1} "
            f"has {area[bad[0]]:g}."
        )
    for name, values in ((area_column, area), (price_column, price)):
        if np.ptp(values) == 0:
            raise InvalidDataset(f"Column '{name}' has the same value in every row.")
    source = f"uploaded CSV: {len(frame)} rows, columns '{area_column}' and '{price_column}'"
    return HouseDataset(area, price, source, area_name=area_column, price_name=price_column)


def _numeric_column(frame, name: str) -> np.ndarray:
    """One column as finite float64, or InvalidDataset naming the first bad cell."""
    import pandas as pd

    if name not in frame.columns:
        valid = ", ".join(map(str, frame.columns))
        raise InvalidDataset(f"There is no column '{name}'; the columns are: {valid}.")
    cells = frame[name].str.strip()
    empty = np.flatnonzero((cells.fillna("") == "").to_numpy(dtype=bool))
    if empty.size:
        raise InvalidDataset(
            f"Column '{name}' has an empty or missing (NaN) cell on data row {empty[0] + 1}."
        )
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InvalidDataset(
            f"Column '{name}' has a value that is not a finite number on data row "
            f"{bad[0] + 1}: '{cells.iloc[bad[0]]}'."
        )
    return values


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
        raise InvalidDataset("Cannot scale: the values are empty or not all finite numbers.")
    offset, scale = SCALER_METHODS[method][0](values)
    if not scale > 0:
        raise InvalidDataset("Cannot scale a column whose values are all the same.")
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
        raise InvalidDataset(f"Need at least 2 rows to split, got {n_rows}.")
    n_test = min(max(1, round(n_rows * test_fraction)), n_rows - 1)
    order = np.random.default_rng(seed).permutation(n_rows)
    return np.sort(order[n_test:]), np.sort(order[:n_test])
