"""prepare_digit: every stage, polarity, transparency, EXIF, modes, warnings and refusals."""

from __future__ import annotations

import csv
import io
import resource
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from dlcore import images, pixels
from dlcore.data import load_mnist
from dlcore.errors import InvalidImage
from dlcore.images import prepare_digit
from tests.support.hostile import salt_and_pepper_png
from tests.support.renderings import RENDERING_KINDS, photograph_ink, render_digit


def texts(messages) -> tuple[str, ...]:
    """Warnings as a learner reads them (in English here)."""
    return tuple(map(str, messages))


FIXTURES = Path(__file__).parent / "fixtures" / "digits"


# --- helpers -----------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def draw_seven(size=(600, 400), box=(60, 40, 260, 330), ink=30, paper=225, width=30):
    """A dark '7' on light paper inside `box` (left, top, right, bottom): off-center."""
    image = Image.new("L", size, paper)
    left, top, right, bottom = box
    corner = (right, top)
    foot = (left + 0.45 * (right - left), bottom)
    ImageDraw.Draw(image).line([(left, top), corner, foot], fill=ink, width=width, joint="curve")
    return image


def stage(prepared, prefix: str) -> np.ndarray:
    """The stage whose name starts with `prefix`."""
    matches = [picture for name, picture in prepared.stages if str(name).startswith(prefix)]
    assert len(matches) == 1, [str(name) for name, _ in prepared.stages]
    return np.asarray(matches[0])


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    weights = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    return (rows * weights).sum() / weights.sum(), (cols * weights).sum() / weights.sum()


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def assert_valid(prepared) -> None:
    assert prepared.uint8.shape == (28, 28) and prepared.uint8.dtype == np.uint8
    assert prepared.array.dtype == np.float32
    np.testing.assert_array_equal(prepared.array, pixels.normalize(prepared.uint8))
    assert prepared.uint8.max() > 0


@pytest.fixture(scope="module")
def seven() -> images.PreparedDigit:
    photo = draw_seven().rotate(12, fillcolor=225)
    return prepare_digit(encode(photo, "JPEG", quality=90))


# --- every stage ---------------------------------------------------------------------------


def test_stages_run_from_the_upload_to_the_model_input_in_order(seven):
    names = [str(name) for name, _ in seven.stages]
    assert names == [
        "original",
        "orientation fixed",
        "transparency flattened",
        "grayscale",
        "polarity: ink made light",
        "background removed",
        "cropped to the digit",
        "stroke width: kept",
        "scaled to 20 px",
        "padded to 28x28",
        "centered by mass",
        "normalized (/255)",
    ]
    for name, picture in seven.stages:
        assert isinstance(picture, np.ndarray) and max(picture.shape[:2]) <= images.PREVIEW_SIZE
        assert picture.dtype == (np.float32 if str(name).startswith("normalized") else np.uint8), (
            name
        )


def test_off_center_inverted_rotated_digit_ends_centered_by_mass(seven):
    assert_valid(seven)
    assert seven.polarity_inverted
    rows, cols = center_of_mass(seven.uint8)
    assert abs(rows - 14) <= 0.5 and abs(cols - 14) <= 0.5
    assert max(stage(seven, "scaled to 20").shape) == 20
    assert max(ink_box(stage(seven, "padded"))) in (19, 20)  # antialiased edges may be 0
    assert seven.warnings == ()


def test_polarity_decision_inverts_dark_ink_and_keeps_light_ink(seven):
    light_on_dark = Image.eval(draw_seven(), lambda v: 255 - v).rotate(12, fillcolor=30)
    kept = prepare_digit(encode(light_on_dark, "JPEG", quality=90))
    assert not kept.polarity_inverted
    assert stage(kept, "polarity").mean() < 128  # the background is dark either way
    assert stage(seven, "polarity").mean() < 128
    assert similarity(kept.uint8, seven.uint8) > 0.95


def test_background_removed_paper_is_black_and_stroke_cores_are_white():
    gradient = np.linspace(150, 240, 600, dtype=np.float32)[None, :].repeat(400, axis=0)
    photo = np.asarray(draw_seven(), dtype=np.float32) * gradient / 225  # lit from the right
    prepared = prepare_digit(encode(Image.fromarray(photo.astype(np.uint8))))
    clean = stage(prepared, "background removed")
    assert clean[-8:, :].max() == 0  # the paper below the digit, from dark to light
    assert clean[:, -40:].max() == 0
    assert clean.max() == 255
    assert prepared.uint8.max() == 255


def test_crop_ignores_specks_of_dust():
    photo = draw_seven()
    ImageDraw.Draw(photo).ellipse([520, 350, 524, 354], fill=40)  # a speck far away
    prepared = prepare_digit(encode(photo))
    clean = prepare_digit(encode(draw_seven()))
    assert ink_box(stage(prepared, "cropped")) == ink_box(stage(clean, "cropped"))
    assert prepared.warnings == ()


def test_thin_ballpoint_strokes_are_thickened_to_mnist_width():
    thin = prepare_digit(encode(draw_seven(width=4)))
    thick = prepare_digit(encode(draw_seven(width=30)))
    assert stage(thin, "strokes thickened").shape[0] > stage(thin, "cropped").shape[0]
    assert stage(thick, "stroke width: kept").shape == stage(thick, "cropped").shape
    width = images.stroke_width(thin.uint8 >= 128)
    assert 1.2 <= width <= 3.5  # MNIST's strokes are about 1.8 px wide at this scale


def test_stroke_width_of_a_bar():
    bar = np.zeros((60, 60), dtype=bool)
    bar[5:55, 20:26] = True
    assert images.stroke_width(bar) == pytest.approx(6, rel=0.15)


def test_mnist_digits_come_back_essentially_unchanged():
    x_test = load_mnist()[1][0][:40]
    scores = []
    for digit in x_test:
        prepared = prepare_digit(encode(Image.fromarray(digit)))
        assert not prepared.polarity_inverted
        rows, cols = center_of_mass(prepared.uint8)
        assert abs(rows - 14) <= 0.5 and abs(cols - 14) <= 0.5
        scores.append(similarity(prepared.uint8, digit))
    assert np.median(scores) > 0.9


# --- transparency, orientation, modes --------------------------------------------------------


@pytest.mark.parametrize("color", [(0, 0, 0), (30, 60, 200), (255, 255, 255)])
def test_transparent_canvas_png_is_flattened_and_read(color, seven):
    ink = Image.eval(draw_seven(), lambda v: 255 - v)  # alpha: 1 where the ink is
    canvas = Image.new("RGBA", ink.size, (*color, 0))
    canvas.putalpha(ink)
    prepared = prepare_digit(encode(canvas))
    assert_valid(prepared)
    flat = stage(prepared, "transparency flattened")
    assert flat.ndim == 3 and flat.shape[2] == 3  # no alpha left
    assert similarity(prepared.uint8, prepare_digit(encode(draw_seven())).uint8) > 0.95


def test_exif_rotated_phone_jpeg_comes_upright():
    upright = draw_seven().convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # the camera held sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    prepared = prepare_digit(encode(stored, "JPEG", quality=92, exif=exif))
    reference = prepare_digit(encode(upright, "JPEG", quality=92))
    assert stage(prepared, "original").shape[:2] == stage(reference, "original").shape[::-1][1:]
    assert stage(prepared, "orientation fixed").shape == stage(reference, "original").shape
    assert similarity(prepared.uint8, reference.uint8) > 0.95


def _in_mode(mode: str) -> tuple[bytes, str]:
    """The '7' photo stored in the given Pillow mode, in a format that keeps that mode."""
    gray = draw_seven()
    if mode == "I;16":
        wide = (np.asarray(gray).astype(np.uint16) * 257).astype(np.uint16)
        return encode(Image.fromarray(wide)), "I;16"
    if mode == "P+transparency":
        paletted = gray.convert("RGB").convert("P")
        paletted.info["transparency"] = 0
        return encode(paletted, transparency=int(paletted.getpixel((0, 0)))), "P"
    if mode == "CMYK":
        return encode(gray.convert("CMYK"), "JPEG", quality=92), "CMYK"
    if mode == "1":
        return encode(gray.point(lambda v: 255 if v > 128 else 0).convert("1"), "BMP"), "1"
    fmt = {"P": "GIF", "RGB": "WEBP"}.get(mode, "PNG")
    options = {"lossless": True} if fmt == "WEBP" else {}
    return encode(gray.convert(mode), fmt, **options), mode


@pytest.mark.parametrize(
    "mode", ["1", "L", "P", "P+transparency", "RGB", "RGBA", "LA", "CMYK", "I;16"]
)
def test_every_image_mode_gives_the_same_digit(mode):
    data, opened_mode = _in_mode(mode)
    assert Image.open(io.BytesIO(data)).mode == opened_mode  # the mode really is exercised
    prepared = prepare_digit(data)
    assert_valid(prepared)
    assert similarity(prepared.uint8, prepare_digit(encode(draw_seven())).uint8) > 0.93


def test_animated_gif_reads_the_first_frame():
    first = draw_seven()
    second = Image.new("L", first.size, 225)
    ImageDraw.Draw(second).rectangle([100, 180, 500, 220], fill=30)  # a wide bar
    data = encode(first.convert("P"), "GIF", save_all=True, append_images=[second.convert("P")])
    prepared = prepare_digit(data)
    assert images.WARN_ANIMATED in texts(prepared.warnings)
    assert similarity(prepared.uint8, prepare_digit(encode(first)).uint8) > 0.95


def test_large_photo_is_reduced_before_any_pixel_work():
    photo = draw_seven().resize((4000, 2667)).convert("RGB")
    prepared = prepare_digit(encode(photo, "JPEG", quality=90))  # speed: bench/predict_latency.py
    assert max(stage(prepared, "original").shape[:2]) <= images.PREVIEW_SIZE
    assert similarity(prepared.uint8, prepare_digit(encode(draw_seven())).uint8) > 0.95


# --- warnings --------------------------------------------------------------------------------


def test_separate_marks_far_apart_warn_and_the_largest_is_read():
    photo = draw_seven(size=(1200, 400))
    ImageDraw.Draw(photo).ellipse([900, 120, 1000, 220], outline=30, width=18)  # a far 0
    prepared = prepare_digit(encode(photo))
    assert images.WARN_BLOBS in texts(prepared.warnings)
    assert similarity(prepared.uint8, prepare_digit(encode(draw_seven())).uint8) > 0.95


def test_two_digits_side_by_side_warn():
    photo = draw_seven(box=(260, 40, 460, 330))
    ImageDraw.Draw(photo).line([(180, 60), (180, 330)], fill=30, width=30)  # "17"
    prepared = prepare_digit(encode(photo))
    assert texts(prepared.warnings) == (images.WARN_SIDE_BY_SIDE,)


def test_a_digit_cut_by_the_edge_of_the_photo_warns():
    prepared = prepare_digit(encode(draw_seven(box=(-40, 40, 200, 330))))
    assert images.WARN_BORDER in texts(prepared.warnings)


def test_faint_ink_warns_about_low_contrast():
    prepared = prepare_digit(encode(draw_seven(ink=195, paper=225)))
    assert_valid(prepared)
    assert texts(prepared.warnings) == (images.WARN_CONTRAST,)


# --- refusals --------------------------------------------------------------------------------


def _refused(data: bytes) -> str:
    with pytest.raises(InvalidImage) as caught:
        prepare_digit(data)
    return str(caught.value)


def _png_claiming(width: int, height: int) -> bytes:
    """A small valid PNG whose IHDR is patched to claim width x height (CRC fixed)."""
    data = bytearray(encode(Image.new("L", (8, 8), 255)))
    ihdr = 8 + 8  # signature, then length + "IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def test_empty_file_is_refused():
    assert "empty" in _refused(b"")


def test_garbage_bytes_are_not_an_image():
    assert "not an image" in _refused(b"this is a text file, not a picture" * 20)


def test_formats_outside_the_allowlist_are_refused():
    assert "not an image" in _refused(encode(draw_seven(), "TIFF"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_refused(fmt):
    data = encode(draw_seven().convert("RGB"), fmt)
    assert "truncated" in _refused(data[: len(data) // 2])


@pytest.mark.parametrize("size", [(50_000, 50_000), (8_000, 6_000)])
def test_decompression_bomb_is_refused_from_its_header(size):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.thread_time()  # CPU time of this thread: the neighbours' load does not count
    message = _refused(_png_claiming(*size))
    assert "pixels" in message
    assert time.thread_time() - started < 0.5  # nothing was decoded
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024


def test_blank_page_has_no_digit():
    assert _refused(encode(Image.new("RGB", (640, 480), (240, 238, 230)))) == images.NO_DIGIT


def test_pure_noise_has_no_digit():
    rng = np.random.default_rng(0)
    uniform = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    paper = np.clip(rng.normal(200, 12, (300, 400)), 0, 255).astype(np.uint8)
    assert _refused(encode(Image.fromarray(uniform))) == images.NO_DIGIT
    assert _refused(encode(Image.fromarray(paper), "JPEG")) == images.NO_DIGIT


def test_a_speck_of_dust_is_not_a_digit():
    page = Image.new("L", (500, 500), 230)
    ImageDraw.Draw(page).ellipse([200, 200, 203, 203], fill=20)
    assert _refused(encode(page)) == images.NO_DIGIT


# --- realistic uploads -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def read_digits():
    """A 3-nearest-neighbour classifier on 10,000 MNIST training digits (no TensorFlow)."""
    (x_train, y_train), _ = load_mnist()
    train = x_train[:10_000].reshape(10_000, -1).astype(np.float32)
    labels = y_train[:10_000]
    norms = (train**2).sum(axis=1)

    def read(digits: np.ndarray) -> np.ndarray:
        flat = digits.reshape(len(digits), -1).astype(np.float32)
        nearest = np.argsort(norms[None, :] - 2 * flat @ train.T, axis=1)[:, :3]
        return np.array([np.bincount(labels[row], minlength=10).argmax() for row in nearest])

    return read


def test_hand_made_examples_are_read_as_their_digits(read_digits):
    with open(FIXTURES / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 40
    prepared = [prepare_digit((FIXTURES / row["file"]).read_bytes()) for row in rows]
    labels = np.array([int(row["label"]) for row in rows])
    readings = read_digits(np.stack([p.uint8 for p in prepared]))
    assert (readings == labels).mean() >= 0.9
    assert all(p.polarity_inverted for p in prepared)


@pytest.mark.parametrize("kind", sorted(RENDERING_KINDS))
def test_photo_like_renderings_of_mnist_test_digits_are_read(kind, read_digits):
    _, (x_test, y_test) = load_mnist()
    x_test, y_test = x_test[:4], y_test[:4]
    rng = np.random.default_rng(7)
    digits = np.stack([prepare_digit(render_digit(x, kind, rng)).uint8 for x in x_test])
    assert (read_digits(digits) == y_test).sum() >= 3


def test_phone_rendering_is_stored_sideways_with_the_tag_that_rights_it():
    from PIL import ImageOps

    _, (x_test, _) = load_mnist()
    data = render_digit(x_test[0], "phone-exif", np.random.default_rng(3))
    stored = Image.open(io.BytesIO(data))
    orientation = stored.getexif()[0x0112]
    upright = ImageOps.exif_transpose(stored)
    assert orientation in (3, 6, 8)
    if orientation != 3:
        assert upright.size == stored.size[::-1]
    assert images.WARN_BORDER not in texts(prepare_digit(data).warnings)


def test_unknown_rendering_kind_is_refused():
    with pytest.raises(ValueError, match="photo-jpeg"):
        render_digit(np.zeros((28, 28), np.uint8), "polaroid", np.random.default_rng(0))


# --- noise and shadows -------------------------------------------------------------------------


def blank_paper_photo(seed: int, size=(640, 480)) -> np.ndarray:
    """A photo of an empty sheet: tinted, unevenly lit, textured, noisy (RGB)."""
    nothing = Image.new("L", (8, 8), 0)
    return photograph_ink(nothing, size, np.random.default_rng(seed))


def with_shadow(pixels: np.ndarray, kind: str) -> np.ndarray:
    """Darken the photo by a hard-edged shadow across it, or by a soft round one.

    hard: everything left of a line tilted by 20 degrees through the middle gets 55% of
    the light, with a sharp (aliased) edge. soft: a round shadow centered off the middle,
    half the light at its center, fading out over about a third of the photo.
    """
    height, width = pixels.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "hard":
        angle = np.deg2rad(20)
        shaded = (x - 0.5 * width) * np.cos(angle) + (y - 0.5 * height) * np.sin(angle) < 0
        light = np.where(shaded, 0.55, 1.0)
    else:
        radius = 0.35 * max(height, width)
        distance2 = ((x - 0.35 * width) ** 2 + (y - 0.4 * height) ** 2) / radius**2
        light = 1.0 - 0.5 * np.exp(-2.0 * distance2)
    light = light[..., None] if pixels.ndim == 3 else light
    return np.clip(pixels * light, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [300, 640])
@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.05])
def test_salt_and_pepper_noise_on_blank_paper_is_no_digit(fraction, size):
    for seed in range(2):
        noise = salt_and_pepper_png(fraction, size, seed)
        assert _refused(noise).startswith("No digit found")


def test_blank_paper_saved_at_jpeg_quality_5_is_no_digit():
    for seed in range(4):
        photo = Image.fromarray(blank_paper_photo(seed))
        assert _refused(encode(photo, "JPEG", quality=5)) == images.NO_DIGIT


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_a_shadow_on_blank_paper_is_no_digit(kind):
    for seed in range(3):
        photo = Image.fromarray(with_shadow(blank_paper_photo(seed), kind))
        assert _refused(encode(photo, "JPEG", quality=90)) == images.NO_DIGIT


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_a_shadow_across_the_seven_does_not_become_ink(kind):
    photo = np.asarray(draw_seven(size=(600, 450), box=(200, 60, 400, 390)).convert("RGB"))
    plain = prepare_digit(encode(Image.fromarray(photo), "JPEG", quality=90))
    shaded = prepare_digit(encode(Image.fromarray(with_shadow(photo, kind)), "JPEG", quality=90))
    ink, shaded_ink = plain.uint8 >= 128, shaded.uint8 >= 128
    assert (ink & shaded_ink).sum() / (ink | shaded_ink).sum() > 0.8  # IoU of the ink
    assert shaded.warnings == ()


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_photos_with_a_shadow_are_read_as_without_it(kind, read_digits):
    with open(FIXTURES / "labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if "canvas" not in row["file"]]
    photos = [np.asarray(Image.open(FIXTURES / row["file"]).convert("RGB")) for row in rows]
    _, (x_test, y_test) = load_mnist()
    rng = np.random.default_rng(11)
    renderings = [render_digit(x, "photo-png", rng) for x in x_test[:20]]
    photos += [np.asarray(Image.open(io.BytesIO(r)).convert("RGB")) for r in renderings]
    labels = np.array([int(row["label"]) for row in rows] + list(y_test[:20]))
    shaded = [encode(Image.fromarray(with_shadow(p, kind)), "JPEG", quality=90) for p in photos]
    plain = [encode(Image.fromarray(p), "JPEG", quality=90) for p in photos]
    read_plain = read_digits(np.stack([prepare_digit(d).uint8 for d in plain]))
    read_shaded = read_digits(np.stack([prepare_digit(d).uint8 for d in shaded]))
    assert (read_shaded == read_plain).mean() >= 0.9
    assert (read_shaded == labels).mean() >= 0.85
