"""Tests of dlcore.data: MNIST loading, the house-price generator, CSV upload, scaling."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dlcore import data, i18n, settings
from dlcore.errors import DataUnavailable, InvalidDataset

# ----------------------------------------------------------------------------- MNIST


def test_load_mnist_shapes_dtypes_and_canonical_order():
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert y_train.shape == (60_000,) and y_test.shape == (10_000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert list(y_train[:5]) == [5, 0, 4, 1, 9]
    assert sorted(np.unique(y_test)) == list(range(10))
    assert x_train.max() == 255 and x_train.min() == 0


def test_load_mnist_is_cached_and_read_only():
    first = data.load_mnist()
    assert data.load_mnist()[0][0] is first[0][0]
    with pytest.raises(ValueError):
        first[0][0][0, 0, 0] = 1  # shared arrays must not be changed by one caller


def test_corrupt_mnist_raises_data_unavailable(tmp_path, monkeypatch):
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_bad = x_train.copy()
    x_bad[0, 0, 0] ^= 1  # one flipped bit: a valid npz with the wrong content
    np.savez(tmp_path / "mnist.npz", x_train=x_bad, y_train=y_train, x_test=x_test, y_test=y_test)
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailable, match="corrupt") as info:
        data.load_mnist()
    assert "DLCORE_DATA_DIR" in str(info.value) and str(tmp_path) in str(info.value)


def test_truncated_mnist_raises_data_unavailable(tmp_path, monkeypatch):
    source = settings.BUNDLED_DATA_DIR / "mnist.npz"
    (tmp_path / "mnist.npz").write_bytes(source.read_bytes()[:100_000])
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailable, match="corrupt"):
        data.load_mnist()


def test_missing_mnist_raises_data_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataUnavailable, match="missing") as info:
        data.load_mnist()
    assert "DLCORE_DATA_DIR" in str(info.value)


def test_data_dir_override_loads_a_verified_copy(tmp_path, monkeypatch):
    shutil.copy(settings.BUNDLED_DATA_DIR / "mnist.npz", tmp_path / "mnist.npz")
    monkeypatch.setenv("DLCORE_DATA_DIR", str(tmp_path))
    (_, y_train), _ = data.load_mnist()
    assert list(y_train[:5]) == [5, 0, 4, 1, 9]


def test_data_module_does_not_import_tensorflow():
    code = "import sys, dlcore.data; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- generator


def test_generator_is_reproducible_and_seed_dependent():
    a = data.make_house_prices(n_samples=200, seed=3)
    b = data.make_house_prices(n_samples=200, seed=3)
    c = data.make_house_prices(n_samples=200, seed=4)
    assert np.array_equal(a.area, b.area) and np.array_equal(a.price, b.price)
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_generator_values_are_realistic():
    houses = data.make_house_prices(n_samples=2000, noise=0.1, seed=0)
    assert len(houses) == 2000
    assert houses.area.min() >= 30 and houses.area.max() <= 250
    assert (houses.price > 0).all()
    # Price per m² around the documented base rate, and price grows with area.
    per_m2 = (houses.price - data.BASE_PRICE) / houses.area
    assert 0.8 * data.PRICE_PER_M2 < np.median(per_m2) < 1.2 * data.PRICE_PER_M2
    assert np.corrcoef(houses.area, houses.price)[0, 1] > 0.9


def test_generator_without_noise_follows_the_documented_formula():
    houses = data.make_house_prices(n_samples=100, noise=0.0, nonlinearity=1.0, seed=2)
    a = houses.area
    expected = data.BASE_PRICE + data.PRICE_PER_M2 * a * (1 + (a - 30) / 220)
    np.testing.assert_allclose(houses.price, np.round(expected))


def test_nonlinearity_makes_the_price_curve_convex():
    houses = data.make_house_prices(n_samples=500, noise=0.0, nonlinearity=2.0, seed=0)
    order = np.argsort(houses.area)
    slope = np.diff(houses.price[order]) / np.maximum(np.diff(houses.area[order]), 1e-9)
    big_steps = np.diff(houses.area[order]) > 0.5
    assert slope[big_steps][-10:].mean() > 2 * slope[big_steps][:10].mean()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 5},
        {"n_samples": 10.5},
        {"noise": -0.1},
        {"noise": float("nan")},
        {"nonlinearity": 9},
        {"seed": -1},
    ],
)
def test_generator_validates_arguments(kwargs):
    with pytest.raises(ValueError):
        data.make_house_prices(**kwargs)


# ----------------------------------------------------------------------------- CSV


def _csv(rows: int = 12, header: str = "area,price,rooms") -> bytes:
    lines = [header] + [f"{50 + i},{100000 + 3000 * i},{i % 4 + 1}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_valid_csv_is_parsed_from_bytes_and_file_like():
    names = data.csv_numeric_columns(_csv())
    assert names == ["area", "price", "rooms"]
    upload = io.BytesIO(_csv())
    upload.read()  # Streamlit may hand over a file that was already read once
    houses = data.load_house_prices_csv(upload, "area", "price")
    assert len(houses) == 12 and houses.area[0] == 50 and houses.price[-1] == 133000
    assert houses.area_name == "area" and "12 rows" in str(houses.source)
    with i18n.using("zh"):  # where the data came from, read in each reader's language
        assert str(houses.source) == "上传的 CSV：12 行，使用列 'area' 和 'price'"


def test_semicolon_csv_with_bom_and_text_column():
    text = "\ufeffcity;size;cost\n" + "".join(f"A;{40 + i};{9000 * (i + 5)}\n" for i in range(10))
    assert data.csv_numeric_columns(text.encode("utf-8")) == ["size", "cost"]
    houses = data.load_house_prices_csv(text.encode("utf-8"), "size", "cost")
    assert houses.area[-1] == 49


def test_latin1_csv_is_decoded():
    text = "surface m²,prix €\n" + "".join(f"{40 + i},{9000 * (i + 5)}\n" for i in range(10))
    assert data.csv_numeric_columns(text.encode("cp1252")) == ["surface m²", "prix €"]


@pytest.mark.parametrize(
    ("content", "area", "price", "message"),
    [
        (b"", "area", "price", "empty"),
        (b"   \n", "area", "price", "empty"),
        (bytes(range(256)) * 4, "area", "price", "binary"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "area", "price", "binary"),
        (_csv(5), "area", "price", "at least 10"),
        (_csv(), "size", "price", "no column 'size'"),
        (_csv(), "area", "area", "two different columns"),
        (_csv().replace(b"\n53,", b"\n,"), "area", "price", "empty or missing.*row 4"),
        (_csv().replace(b"\n53,", b"\nNaN,"), "area", "price", "empty or missing.*row 4"),
        (_csv().replace(b",106000,", b",lots,"), "area", "price", "not a finite number.*lots"),
        (_csv().replace(b",106000,", b",inf,"), "area", "price", "not a finite number"),
        (_csv().replace(b"\n52,", b"\n-52,"), "area", "price", "positive areas.*row 3"),
        (b"1,2\n3,4\n", "area", "price", "column names"),
    ],
)
def test_csv_refusals_name_the_problem(content, area, price, message):
    with pytest.raises(InvalidDataset, match=message):
        data.load_house_prices_csv(content, area, price)


def test_csv_with_too_few_numeric_columns_is_refused():
    text = "name,price\n" + "".join(f"h{i},{i * 1000 + 5}\n" for i in range(12))
    with pytest.raises(InvalidDataset, match="at least two numeric columns.*price"):
        data.csv_numeric_columns(text.encode())


def test_constant_column_is_refused():
    text = "area,price\n" + "".join(f"{50 + i},100000\n" for i in range(12))
    with pytest.raises(InvalidDataset, match="same value"):
        data.load_house_prices_csv(text.encode(), "area", "price")


def test_too_many_rows_and_too_many_bytes_are_refused():
    with pytest.raises(InvalidDataset, match="100,000"):
        data.csv_numeric_columns(b"a,b\n" + b"1,2\n" * 100_001)
    huge = b"a,b\n" + b"1234567890,1234567890\n" * 500_000  # 11 MB
    with pytest.raises(InvalidDataset, match="10 MB"):
        data.csv_numeric_columns(io.BytesIO(huge))


def test_a_column_with_one_bad_cell_is_still_offered_and_its_row_named():
    """Offering only the clean columns made the pickers default to two of them, or say
    'Choose two different columns'; choosing the spoiled one now says where and what."""
    spoiled = _csv().replace(b"\n54,", b"\nabc,")  # area on data row 5
    assert data.csv_numeric_columns(spoiled) == ["area", "price", "rooms"]
    with pytest.raises(InvalidDataset, match=r"Column 'area' .* data row 5: 'abc'\.$"):
        data.load_house_prices_csv(spoiled, "area", "price")
    houses = data.load_house_prices_csv(spoiled, "rooms", "price")  # the others still load
    assert len(houses) == 12


def test_a_text_column_is_not_offered_and_the_refusal_names_it():
    text = "name,price\n" + "".join(f"h{i},{i * 1000 + 5}\n" for i in range(12))
    with pytest.raises(InvalidDataset) as info:
        data.csv_numeric_columns(text.encode())
    assert str(info.value).endswith("Column 'name' holds text (data row 1: 'h0').")
    one = "area|price\n" + "".join(f"{50 + i}|{i * 1000 + 5}\n" for i in range(12))
    with pytest.raises(InvalidDataset, match="single column \\('area\\|price'\\): separate"):
        data.csv_numeric_columns(one.encode())


def _two_columns(cells: list[str], separator: str = ",") -> bytes:
    """An area column 50, 51, ... and a price column of the given cells."""
    rows = [f"{50 + i}{separator}{cell}" for i, cell in enumerate(cells)]
    return "\n".join([f"area{separator}price", *rows]).encode()


@pytest.mark.parametrize("separator", [";", "\t"])
def test_decimal_commas_are_read_in_semicolon_and_tab_files_and_the_learner_told(separator):
    raw = _two_columns([f"{1000 + i},5" for i in range(12)], separator)
    assert data.csv_numeric_columns(raw) == ["area", "price"]
    houses = data.load_house_prices_csv(raw, "area", "price")
    np.testing.assert_array_equal(houses.price, np.arange(12) + 1000.5)
    assert tuple(map(str, houses.notes)) == (
        "Column 'price': decimal commas were read as decimal points ('1000,5' → 1000.5).",
    )
    assert data.load_house_prices_csv(_csv(), "area", "price").notes == ()


@pytest.mark.parametrize(
    ("cells", "separator", "message"),
    [
        # A comma-separated file quotes its decimal commas: a dot is what CSV expects.
        ([f'"{1000 + i},5"' for i in range(12)], ",", "'1000,5'. Use a dot for decimals: write"),
        # Dots and commas in one column: which one is the decimal mark?
        ([f"{1000 + i},5" for i in range(11)] + ["1000.5"], ";", "also has numbers with a dot"),
        (
            ['"1,234,000"'] * 12,
            ",",
            "'1,234,000'. It looks like a number with thousands "
            "separators: remove them (write 1234000).",
        ),
        (["1.234.567,5"] * 12, ";", "thousands separators: remove them (write 1234567.5)"),
        (["1 234 000"] * 12, ";", "thousands separators: remove them (write 1234000)"),
        (
            ['"234,000"'] * 12,
            ",",
            "If the comma separates thousands, write 234000; if it is "
            "a decimal comma, write 234.000",
        ),
    ],
)
def test_numbers_written_with_separators_are_offered_and_named(cells, separator, message):
    raw = _two_columns(cells, separator)
    assert data.csv_numeric_columns(raw) == ["area", "price"]  # not 'numeric columns: area'
    with pytest.raises(InvalidDataset, match="not a finite number on data row 1") as info:
        data.load_house_prices_csv(raw, "area", "price")
    assert message in str(info.value)


def test_dots_that_may_separate_thousands_are_read_as_decimals_with_a_warning():
    raw = _two_columns([f"{670 + i}.369" for i in range(12)], ";")
    houses = data.load_house_prices_csv(raw, "area", "price")
    assert houses.price[0] == 670.369  # what the file says, for a computer
    assert tuple(map(str, houses.notes)) == (
        "Column 'price': every value has three digits after the dot (e.g. 670.369), so they "
        "are read as decimals. If the dot separates thousands (670.369 meaning 670369), "
        "remove it from the file and upload it again.",
    )
    ordinary = _two_columns([f"{100 + i}.5" for i in range(12)], ";")
    assert data.load_house_prices_csv(ordinary, "area", "price").notes == ()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_unicode_text_exports_are_decoded(encoding):
    """Excel's 'Unicode text' is UTF-16 with tabs; without a BOM, NULs give it away."""
    text = "surface m²\tprix €\n" + "".join(f"{40 + i}\t{9000 * (i + 5)}\n" for i in range(10))
    raw = text.encode(encoding)
    assert data.csv_numeric_columns(raw) == ["surface m²", "prix €"]
    assert data.load_house_prices_csv(raw, "surface m²", "prix €").price[-1] == 9000 * 14


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(400), "This is an Excel file (.xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(400), "This is an Excel file (.xls"),
        ("area\tprice\n1\t2\n".encode("utf-16") + b"x", "looks like UTF-16 'Unicode text'"),
    ],
)
def test_spreadsheet_files_say_how_to_save_them_as_csv(content, message):
    with pytest.raises(InvalidDataset) as info:
        data.csv_numeric_columns(content)
    assert message in str(info.value)
    assert "save it as CSV UTF-8 (File → Save as → CSV UTF-8)" in str(info.value)


def test_values_too_large_to_compute_with_are_refused_on_their_row():
    cells = ["1e308" if i % 2 else "-1e308" for i in range(12)]
    with pytest.raises(InvalidDataset) as info:
        data.load_house_prices_csv(_two_columns(cells), "area", "price")
    message = str(info.value)
    assert "too large to compute with on data row 1: −1×10³⁰⁸" in message
    assert "up to 1×10¹⁵" in message and "same" not in message
    near_limit = _two_columns([f"{(i + 1) * 1e14:.0f}" for i in range(12)])  # up to 1.2e15
    with pytest.raises(InvalidDataset, match="too large.*data row 11: 1.1×10¹⁵"):
        data.load_house_prices_csv(near_limit, "area", "price")


def test_a_first_row_longer_than_the_header_is_refused_not_shifted():
    """pandas would read 'a,b / 1,2,3' as a=2, b=3 (the 1 as a row label)."""
    with pytest.raises(InvalidDataset, match="Data row 1 has more values"):
        data.load_house_prices_csv(b"area,price\n1,2,3\n" + b"5,6\n" * 12, "area", "price")
    with pytest.raises(InvalidDataset, match="Line 5 has 3 values but the first line names 2"):
        data.load_house_prices_csv(_two_columns(["1", "2", "3", "4,5", "6"]), "area", "price")


def test_an_unclosed_quote_and_old_mac_line_ends():
    with pytest.raises(InvalidDataset, match="never closed"):
        data.csv_numeric_columns(b'area,"price\n' + b"1,2\n" * 12)
    mac = _csv().replace(b"\n", b"\r")
    assert len(data.load_house_prices_csv(mac, "area", "price")) == 12


# ----------------------------------------------------------------------------- scaling


@pytest.mark.parametrize("method", ["minmax", "standard"])
def test_scaler_round_trip_is_exact_to_float64_precision(method):
    values = data.make_house_prices(n_samples=500, seed=1).price
    scaler = data.fit_scaler(values, method)
    back = scaler.inverse(scaler.transform(values))
    np.testing.assert_allclose(back, values, rtol=4 * np.finfo(np.float64).eps, atol=0)


def test_minmax_maps_training_data_onto_zero_one_as_in_the_tutorial():
    values = np.array([30.0, 80.0, 130.0])
    scaler = data.fit_scaler(values, "minmax")
    np.testing.assert_array_equal(scaler.transform(values), [0.0, 0.5, 1.0])
    assert "max" in scaler.formula


def test_standard_scaler_gives_zero_mean_unit_variance():
    values = data.make_house_prices(n_samples=300, seed=5).area
    scaled = data.fit_scaler(values, "standard").transform(values)
    assert abs(scaled.mean()) < 1e-12 and abs(scaled.std() - 1) < 1e-12


def test_scaler_refuses_constant_and_unknown_input():
    with pytest.raises(InvalidDataset, match="same"):
        data.fit_scaler(np.full(10, 3.0), "minmax")
    with pytest.raises(InvalidDataset, match="same"):
        data.fit_scaler(np.full(10, 3.0), "standard")
    huge = np.array([1e308, -1e308, 5e307])  # once reported as "all the same"
    with pytest.raises(InvalidDataset, match="this large.*range overflows"):
        data.fit_scaler(huge, "minmax")
    with pytest.raises(InvalidDataset, match="this large.*variance overflows"):
        data.fit_scaler(huge, "standard")
    with pytest.raises(ValueError, match="robust.*minmax, standard"):
        data.fit_scaler(np.arange(5.0), "robust")


def test_split_is_seeded_disjoint_and_complete():
    train, test = data.split_train_test(100, test_fraction=0.2, seed=7)
    again = data.split_train_test(100, test_fraction=0.2, seed=7)
    other = data.split_train_test(100, test_fraction=0.2, seed=8)
    assert len(test) == 20 and len(train) == 80
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    assert np.array_equal(test, again[1]) and not np.array_equal(test, other[1])
    with pytest.raises(ValueError):
        data.split_train_test(100, test_fraction=1.5)
