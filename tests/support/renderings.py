"""Render MNIST digits as realistic uploads: phone photos of ink on paper, and canvas drawings.

The accuracy bar of the "read my digit" demo is about photographs of handwritten digits,
so the test set is built from MNIST's *test* images drawn the way a learner would upload
them: large, dark ink on light and unevenly lit paper, off-center, slightly rotated, noisy,
saved as JPEG, PNG or WebP in RGB, RGBA or grayscale, some with an EXIF rotation like a
phone's, and some as transparent drawing-canvas PNGs. Only Pillow and NumPy are used.

Example:
    >>> rng = np.random.default_rng(0)
    >>> digit = np.zeros((28, 28), np.uint8); digit[6:22, 12:16] = 255
    >>> data = render_digit(digit, "photo-jpeg", rng)
    >>> data[:2] == b"\\xff\\xd8"
    True
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageFilter

# EXIF Orientation tag -> how the camera stored the upright picture (the inverse of the
# transpose that ImageOps.exif_transpose applies).
_EXIF_ORIENTATION = 0x0112
_STORED_AS = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
_CANVAS_COLORS = ((0, 0, 0), (35, 35, 35), (20, 60, 200), (200, 30, 30), (255, 255, 255))


@dataclass(frozen=True)
class Rendering:
    """One rendered upload: the file's bytes, its rendering kind and the true label."""

    data: bytes
    kind: str
    label: int
    index: int  # position of the source digit in the MNIST test set


def render_digit(digit: np.ndarray, kind: str, rng: np.random.Generator) -> bytes:
    """Render one 28x28 MNIST digit (light on dark, uint8) as an upload of the given kind.

    Args:
        digit: The MNIST image, 28x28 uint8.
        kind: One of RENDERING_KINDS.
        rng: The random generator that decides every detail.

    Returns:
        The bytes of the image file.

    Raises:
        ValueError: `kind` is not a known rendering kind.
    """
    if kind not in RENDERING_KINDS:
        raise ValueError(f"unknown rendering kind {kind!r}; choose from {sorted(RENDERING_KINDS)}")
    return RENDERING_KINDS[kind](digit, rng)


def render_test_set(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> list[Rendering]:
    """Render `count` randomly chosen digits, each in a randomly chosen kind.

    Args:
        images: MNIST *test* images, (n, 28, 28) uint8.
        labels: Their labels, (n,).
        count: How many renderings to make (at most n).
        seed: Seed of the random choices, so the set is the same on every run.
    """
    rng = np.random.default_rng(seed)
    indices = rng.choice(len(images), size=count, replace=False)
    kinds = sorted(RENDERING_KINDS)
    renderings = []
    for index in indices:
        kind = kinds[rng.integers(len(kinds))]
        data = render_digit(images[index], kind, rng)
        renderings.append(Rendering(data, kind, int(labels[index]), int(index)))
    return renderings


# --- the ink ---------------------------------------------------------------------------------


def _ink_alpha(
    digit: np.ndarray, size: int, rng: np.random.Generator, fine_pen: bool = False
) -> Image.Image:
    """Upscale the digit to `size` px as pen ink: sharp-edged strokes, slightly rotated.

    Plain bicubic upscaling of a 28 px digit gives edges blurred over a tenth of the digit;
    real ink has crisp edges softened only by the camera, so the upscaled values go through
    a smooth step and a small blur. A `fine_pen` redraws the strokes 3 or 5 px wide at
    4x MNIST's size (4-7% of the digit's height), like a ballpoint or a fine felt pen.
    """
    # The outline is decided at 4x MNIST's size: the level where the pen's edge falls (lower
    # is bolder). A fine pen follows the brighter core, where loops stay open.
    level = rng.uniform(0.5, 0.6) if fine_pen else rng.uniform(0.3, 0.5)
    shape = _smooth_step(_resized(digit, 112), level, 0.3)
    if fine_pen:
        shape = _redraw_with_fine_pen(shape, int(rng.integers(1, 3)))
    # At full size the outline is re-sharpened: ink edges are crisp, not bicubic blur.
    alpha = _smooth_step(_resized(np.asarray(shape), size), 0.5, 0.2, rng.uniform(0.85, 1.0))
    alpha = alpha.filter(ImageFilter.GaussianBlur(size / rng.uniform(250, 600)))
    return alpha.rotate(rng.uniform(-10, 10), Image.Resampling.BICUBIC, expand=True)


def _redraw_with_fine_pen(shape: Image.Image, passes: int) -> Image.Image:
    """Redraw the strokes along their center line with a pen of constant width.

    A ballpoint's line is thin and even, so the strokes are thinned to their skeleton
    (one pixel wide, still connected) and grown again by `passes` pixels on each side.
    """
    pen = Image.fromarray(_skeleton(np.asarray(shape) >= 128).astype(np.uint8) * 255)
    for _ in range(passes):
        pen = pen.filter(ImageFilter.MaxFilter(3))
    return pen


def _skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: peel a mask's border pixels until 1-px-wide lines remain."""
    image = np.pad(mask, 1).astype(np.uint8)
    changed = True
    while changed:
        changed = False
        for first_pass in (True, False):
            # Neighbors P2..P9, clockwise from north, of every interior pixel.
            n = [
                image[0:-2, 1:-1],
                image[0:-2, 2:],
                image[1:-1, 2:],
                image[2:, 2:],
                image[2:, 1:-1],
                image[2:, 0:-2],
                image[1:-1, 0:-2],
                image[0:-2, 0:-2],
            ]
            count = sum(p.astype(np.int32) for p in n)
            crossings = sum((n[k] == 0) & (n[(k + 1) % 8] == 1) for k in range(8))
            if first_pass:
                corner = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                corner = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            centre = image[1:-1, 1:-1]
            remove = (centre == 1) & (count >= 2) & (count <= 6) & (crossings == 1) & corner
            if remove.any():
                centre[remove] = 0
                changed = True
    return image[1:-1, 1:-1].astype(bool)


def _resized(values: np.ndarray, size: int) -> np.ndarray:
    """A uint8 image resized to size x size (bicubic), as floats in [0, 1]."""
    resized = Image.fromarray(values).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.float32) / 255.0


def _smooth_step(values: np.ndarray, center: float, width: float, strength=1.0) -> Image.Image:
    """Map values through a smooth 0-to-1 step of the given center and width, as an L image."""
    step = np.clip((values - center) / width + 0.5, 0.0, 1.0)
    return _gray(step * step * (3.0 - 2.0 * step) * (255.0 * strength))


def _sheet_size(alpha: Image.Image, margin: tuple[float, float], rng) -> tuple[int, int]:
    """A sheet (width, height) larger than the ink by a random factor in `margin` each way."""
    return int(alpha.width * rng.uniform(*margin)), int(alpha.height * rng.uniform(*margin))


def _place(alpha: Image.Image, size: tuple[int, int], rng) -> Image.Image:
    """Put the ink at a random off-center spot on a sheet of `size`; return the sheet's alpha."""
    sheet = Image.new("L", size, 0)
    left = int(rng.integers(0, size[0] - alpha.width + 1))
    top = int(rng.integers(0, size[1] - alpha.height + 1))
    sheet.paste(alpha, (left, top))
    return sheet


# --- photos of paper -------------------------------------------------------------------------


def photograph_ink(alpha: Image.Image, size: tuple[int, int], rng) -> np.ndarray:
    """Photograph ink on paper: an RGB uint8 image of `size` (width, height).

    Args:
        alpha: Where the ink is (L image, 255 = full ink), smaller than `size`; it is
            placed at a random spot, dark on tinted, unevenly lit, textured, noisy paper.
        size: The photo's (width, height).
        rng: The random generator that decides every detail.
    """
    sheet = _place(alpha, size, rng)
    width, height = size
    # White to gray paper, a little warm or cool; black, blue-black or blue ink.
    paper = rng.uniform(195, 250) + rng.uniform(-5, 5, 3) + rng.uniform(0, 1) * np.array([4, 0, -8])
    ink = rng.uniform(10, 60) + rng.uniform(0, 1) * np.array([0, 10, 60])
    drawn = Image.composite(_plain(ink, size), _plain(paper, size), sheet)
    light = _gray((_lighting(height, width, rng) + _texture(height, width, rng)) * 255)
    lit = ImageChops.multiply(drawn, light.convert("RGB"))
    # Sensor noise, the same in the three channels (luminance noise), around 128.
    noise = rng.standard_normal((height, width), dtype=np.float32) * rng.uniform(2.0, 8.0)
    return np.asarray(ImageChops.add(lit, _gray(noise + 128).convert("RGB"), 1.0, -128))


def _paper_photo(digit: np.ndarray, rng: np.random.Generator, size_range=(200, 1000)):
    """A photo of the digit at a random size on a sheet somewhat larger than the digit."""
    alpha = _ink_alpha(digit, int(rng.integers(*size_range)), rng)
    return photograph_ink(alpha, _sheet_size(alpha, (1.15, 1.8), rng), rng)


def render_phone_photo(digit: np.ndarray, rng: np.random.Generator, size=(4032, 3024)) -> bytes:
    """A full-size phone photo (12 megapixels by default) of the digit, as a JPEG.

    Used by the latency benchmark: the upload a learner's phone would really send.
    """
    alpha = _ink_alpha(digit, int(min(size) * rng.uniform(0.3, 0.6)), rng)
    buffer = io.BytesIO()
    Image.fromarray(photograph_ink(alpha, size, rng)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _plain(color: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A uniformly colored RGB image of the given (width, height)."""
    return Image.new("RGB", size, tuple(int(c) for c in np.clip(np.round(color), 0, 255)))


def _gray(values: np.ndarray) -> Image.Image:
    """An L image from float values, rounded and clipped to 0-255."""
    return Image.fromarray(np.clip(values + 0.5, 0, 255).astype(np.uint8))


def _lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Uneven light: a linear falloff in a random direction and a vignette."""
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x + np.sin(angle) * y) * rng.uniform(0.0, 0.15)
    vignette = (x * x + y * y) * rng.uniform(0.0, 0.1)
    return 1.0 - 0.1 + ramp - vignette


def _texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Paper fiber and slight unevenness: smooth low-frequency noise of a few percent."""
    coarse = rng.normal(0.0, rng.uniform(0.005, 0.02), (12, 16)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))


def _encode(pixels: np.ndarray, mode: str, fmt: str, rng, exif: Image.Exif | None = None):
    """Save RGB pixels in the given mode and format, with a random JPEG/WebP quality."""
    image = Image.fromarray(pixels).convert(mode)
    buffer = io.BytesIO()
    # PNG's compression level changes only the file size, not the pixels: keep it fast.
    lossy = fmt in ("JPEG", "WEBP")
    options = {"quality": int(rng.integers(70, 96))} if lossy else {"compress_level": 1}
    if exif is not None:
        options["exif"] = exif
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _render_photo_jpeg(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    mode = ("RGB", "L")[rng.integers(2)]
    return _encode(_paper_photo(digit, rng), mode, "JPEG", rng)


def _render_photo_png(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    mode = ("RGB", "RGBA", "L")[rng.integers(3)]
    return _encode(_paper_photo(digit, rng), mode, "PNG", rng)


def _render_photo_webp(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    mode = ("RGB", "RGBA")[rng.integers(2)]
    return _encode(_paper_photo(digit, rng), mode, "WEBP", rng)


def _render_pen_photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A photo of the digit written with a fine pen: strokes thinner than MNIST's."""
    alpha = _ink_alpha(digit, int(rng.integers(300, 1000)), rng, fine_pen=True)
    pixels = photograph_ink(alpha, _sheet_size(alpha, (1.15, 1.8), rng), rng)
    return _encode(pixels, "RGB", "JPEG", rng)


def _render_phone_exif(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone JPEG stored sideways or upside down, with the EXIF tag that rights it."""
    orientation = (3, 6, 8)[rng.integers(3)]
    upright = Image.fromarray(_paper_photo(digit, rng, (500, 1000)))
    stored = np.asarray(upright.transpose(_STORED_AS[orientation]))
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = orientation
    return _encode(stored, "RGB", "JPEG", rng, exif)


# --- drawing canvases ------------------------------------------------------------------------


def _render_canvas(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A drawing-canvas PNG: colored strokes with antialiased alpha on a transparent sheet."""
    alpha = _ink_alpha(digit, int(rng.integers(150, 500)), rng)
    sheet = _place(alpha, _sheet_size(alpha, (1.0, 1.5), rng), rng)
    color = _plain(np.array(_CANVAS_COLORS[rng.integers(len(_CANVAS_COLORS))]), sheet.size)
    color.putalpha(sheet)
    buffer = io.BytesIO()
    color.save(buffer, "PNG")
    return buffer.getvalue()


# Registry of rendering kinds: adding a kind is one entry.
RENDERING_KINDS: dict[str, Callable[[np.ndarray, np.random.Generator], bytes]] = {
    "photo-jpeg": _render_photo_jpeg,
    "photo-png": _render_photo_png,
    "photo-webp": _render_photo_webp,
    "phone-exif": _render_phone_exif,
    "pen-photo": _render_pen_photo,
    "canvas": _render_canvas,
}
