"""Turn an uploaded photo or drawing into the 28x28 digit the MNIST CNN expects.

MNIST digits are light ink on a dark field, scaled so that their longest side is 20 px,
and placed in a 28x28 field with their center of mass at the center. A photo of a digit
written on paper is nothing like that: it is large, dark on light, unevenly lit, noisy and
off-center. `prepare_digit` walks the photo through the same normalization the MNIST
authors applied and keeps every intermediate image so that the page can show each step.
One step is ours: strokes much thinner than MNIST's (a ballpoint pen) are thickened to
MNIST's typical width before scaling, or they would shrink to faint hairlines.

Uploads come from anyone, so the file's structure is checked before it is decoded
(`dlcore.image_guard`), refused files are remembered, and shadows, noise and compression
artifacts are told apart from ink rather than read as a digit.

Only Pillow and NumPy are used (no TensorFlow), so the module imports quickly.

Example:
    >>> prepared = prepare_digit(open("seven.jpg", "rb").read())  # doctest: +SKIP
    >>> prepared.uint8.shape, prepared.array.dtype  # doctest: +SKIP
    ((28, 28), dtype('float32'))
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError

from dlcore import image_guard, readable
from dlcore.arithmetic import ceil_div
from dlcore.errors import InvalidImage
from dlcore.i18n import N_, Message
from dlcore.memo import LruMemo
from dlcore.pixels import normalize

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
MAX_PIXELS = 40_000_000  # a 12-megapixel phone photo fits three times over
WORK_SIZE = 512  # longest side the photo is reduced to before any pixel work
MIN_WORK_SIZE = 256  # tiny images are enlarged so strokes are several pixels wide
PREVIEW_SIZE = 256  # longest side of the stage images kept for display
GRID_SIZE = 256  # longest side of the coarse grid on which ink blobs are found
DIGIT_BOX = 20  # MNIST scales the digit's longest side to 20 px ...
FIELD = 28  # ... and centers it by mass in a 28x28 field
CENTER = 14.0  # MNIST's mean center of mass, in pixel-index coordinates
STROKE_WIDTH = 0.09  # MNIST's median stroke width, as a fraction of the digit's longest side
THIN_STROKE = 0.06  # thinner than 95% of MNIST's digits: a ballpoint pen; thickened
# Gray levels between paper and ink below which nothing is there: blank paper photographed
# or saved at low JPEG quality, and salt-and-pepper noise, reach 13-20 levels once the light
# is flattened; ink in every photo and drawing measured stands out by 53 or more.
MIN_CONTRAST = 20
LOW_CONTRAST = 40  # gray levels below which the user is warned that the ink is faint
MAX_RUNS = 6000  # more separate ink runs than this on the grid is noise, not a digit
# The median absolute deviation times this estimates a normal noise's standard deviation
# (1 / the 75th percentile of the standard normal), robust to the ink's outliers.
MAD_TO_SIGMA = 1.4826
# Blob sizes relative to the largest blob (the digit's main stroke):
SPECK_SHARE = 0.05  # smaller: a speck, never part of the digit
STRAY_MARK_SHARE = 0.15  # a mark this large left out of the digit earns WARN_BLOBS
SIDE_BY_SIDE_SHARE = 0.3  # blobs this large, side by side, look like two digits ("17")
GROUP_REACH = 0.25  # a part within this share of the digit's box (plus 1 px) belongs to it
POLARITY_RADIUS = 0.2  # of the image's side: the local average that ink departs from
# The paper is followed by a window about 2.5 stroke widths wide: strokes narrower than it
# stand out, shadows wider than it do not. A thick marker digit filling the photo has
# strokes up to about a seventh of the side; a smaller window hollows them out.
PAPER_WINDOW_STROKES = 2.5
MIN_PAPER_WINDOW = 0.12  # of the image's side
MAX_PAPER_WINDOW = 0.35  # of the image's side
EDGE_MARGIN = 4  # px: how far past a shadow's edge JPEG ringing and aliasing reach
TEXTURE_CAP = 4  # texture is capped at twice its median + this, so ink is not texture
MAX_SHADOW_GAIN = 4.0  # a shadow darker than a quarter of the light is not restored
MIN_DIGIT_PX = 16  # a mark smaller than MNIST's 20-px digit box is a speck, not a digit
# Noise leaves dozens of specks (salt-and-pepper: 35 to 530 on a 640x480 page) and the
# largest holds a few percent of their ink; a digit photo has at most a handful of marks
# and the digit holds most of the ink (at least 36% in every photo measured).
NOISY_BLOBS = 20
MIN_SHARE = 0.25
# Ink climbs from paper to stroke within EDGE_WINDOW of the digit's size by at least
# MIN_EDGE_RISE of 255; a shadow's soft edge does not (see _has_sharp_edges).
EDGE_WINDOW = 0.05
MIN_EDGE_RISE = 180
MAX_REMEMBERED = 256  # refused uploads remembered: a 32-byte hash and a sentence each

NO_DIGIT = N_("No digit found: the image looks blank or is only noise.")
NO_DIGIT_SCATTERED = N_(
    "No digit found: the image is covered with many small marks (noise, or a page of "
    "writing). Crop the photo to a single digit."
)
WARN_BLOBS = N_(
    "Several separate marks were found; only the largest one was read. "
    "Crop the photo to a single digit for a better reading."
)
WARN_SIDE_BY_SIDE = N_(
    "This looks like more than one digit side by side; the network reads a single digit, "
    "so crop the photo to one."
)
WARN_BORDER = N_("The digit touches the edge of the image, so part of it may be cut off.")
WARN_CONTRAST = N_("The ink is very faint (low contrast); a darker pen or better light helps.")
WARN_ANIMATED = N_("This is an animated image; only its first frame was read.")

# EXIF Orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_EXIF_ORIENTATION = 0x0112
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Refused uploads by SHA-256, oldest first: a page rerun with the same upload is refused at
# once instead of decoding it again (Streamlit's cache keeps results, not exceptions).
_REFUSALS: LruMemo[Message] = LruMemo(MAX_REMEMBERED)


@dataclass(frozen=True)
class PreparedDigit:
    """An uploaded image turned into the CNN's input, with every step kept for display.

    Attributes:
        uint8: The 28x28 uint8 image (0-255, light digit on dark) that the CNN consumes;
            the model rescales it by 1/255 inside, exactly as during training.
        stages: Ordered (name, image) pairs from the original upload to the normalized
            input. Images are NumPy arrays: uint8 gray (H, W) or color (H, W, 3|4), except
            the last stage, which is `array` itself. Stages larger than 256 px are
            display copies reduced to at most 256 px on their longest side.
        warnings: Plain-language warnings about problems that did not stop the reading.
        polarity_inverted: True when dark ink on light paper was inverted to MNIST's
            light-on-dark.
    """

    uint8: np.ndarray
    stages: tuple[tuple[Message, np.ndarray], ...]
    warnings: tuple[Message, ...]
    polarity_inverted: bool

    @property
    def array(self) -> np.ndarray:
        """The normalized model input: 28x28 float32 in [0, 1], as Rescaling(1/255) makes it."""
        return normalize(self.uint8)


@dataclass(frozen=True)
class _Blob:
    """One connected group of ink pixels on the coarse grid."""

    label: int
    area: int
    top: int
    left: int
    bottom: int  # inclusive
    right: int  # inclusive


@dataclass(frozen=True)
class _InkStats:
    """Brightness statistics of the flattened image, all from one 256-bin histogram."""

    background: float  # median: the paper
    noise: float  # robust standard deviation of the paper
    threshold: float  # pixels above it are ink
    ink_level: float  # typical brightness of the core of the strokes
    floor: float  # pixels below it are set to zero (noise), the rest ramp up to ink_level


def prepare_digit(data: bytes) -> PreparedDigit:
    """Turn the bytes of an uploaded image into the MNIST-style 28x28 digit.

    Stages: original -> orientation fixed (EXIF) -> transparency flattened -> grayscale ->
    polarity (dark ink on light paper inverted) -> background removed (shadows and uneven
    light divided out, specks and paper noise cut, antialiased ink kept) -> cropped to the
    digit (specks and far-away marks left out; noise and shadows with no sharp edge are no
    digit) -> stroke width (thin strokes thickened) -> scaled to 20 px ->
    padded to 28x28 -> centered by mass at (14, 14) -> normalized (/255).

    Args:
        data: The file's bytes (PNG, JPEG, WebP, BMP or GIF; animated: first frame).

    Returns:
        The prepared digit with its stages and warnings.

    Raises:
        InvalidImage: The file is empty, not an image, truncated, too large, too costly
            to decode, or shows no digit; the message says which in plain words. A refused
            file is remembered (by its SHA-256), so the same upload is refused again at
            once, without decoding it a second time.
    """
    key = hashlib.sha256(data).digest()  # about 1 ms for a 1.4 MB file
    message = _REFUSALS.get(key)
    if message is not None:
        raise InvalidImage(message)
    try:
        return _prepare(data)
    except InvalidImage as refusal:
        _REFUSALS.put(key, refusal.message)  # read later in each learner's language
        raise


def _prepare(data: bytes) -> PreparedDigit:
    """prepare_digit without the memory of refusals."""
    stages: list[tuple[Message, np.ndarray]] = []
    warnings: list[Message] = []
    image, orientation, min_contrast = _decode(data, warnings)
    stages.append((Message("original"), _preview(image)))
    image = image.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else image
    stages.append((Message("orientation fixed"), _preview(image)))
    image = _flatten_transparency(image)
    stages.append((Message("transparency flattened"), _preview(image)))
    gray = _enlarge_if_tiny(np.asarray(image.convert("L")))
    stages.append((Message("grayscale"), _preview(gray)))
    ink, inverted = _fix_polarity(gray)
    polarity = Message("polarity: ink made light") if inverted else Message("polarity: kept")
    stages.append((polarity, _preview(ink)))
    clean, mask, stats = _remove_background(ink, inverted, min_contrast)
    stages.append((Message("background removed"), _preview(clean)))
    crop = _crop_to_digit(clean, mask, warnings)
    stages.append((Message("cropped to the digit"), _preview(crop)))
    crop, thickened = _thicken_thin_strokes(crop)
    strokes = Message("strokes thickened") if thickened else Message("stroke width: kept")
    stages.append((strokes, _preview(crop)))
    if stats.ink_level - stats.background < LOW_CONTRAST:
        warnings.append(Message(WARN_CONTRAST))
    scaled = _scale_longest_side(crop, DIGIT_BOX)
    stages.append((Message("scaled to {size} px", size=DIGIT_BOX), scaled))
    padded = _pad_to_field(scaled, FIELD)
    stages.append((Message("padded to {size}x{size}", size=FIELD), padded))
    centered = _center_by_mass(padded)
    stages.append((Message("centered by mass"), centered))
    stages.append((Message("normalized (/255)"), normalize(centered)))
    return PreparedDigit(centered, tuple(stages), tuple(warnings), inverted)


# --- decoding -----------------------------------------------------------------------------


def _decode(data: bytes, warnings: list[Message]) -> tuple[Image.Image, int, float]:
    """Open, check and decode the file into a small L, LA, RGB or RGBA image.

    The file's structure is checked before Pillow parses it, and the decoded size before
    any pixel is decoded, so that a hostile file is refused in milliseconds.

    Returns:
        The decoded image (longest side at most WORK_SIZE), its EXIF orientation, and the
        smallest ink contrast its encoding can show (see `_min_contrast`).
    """
    if not data:
        raise InvalidImage(Message("The file is empty."))
    image_guard.check_structure(data)
    image = _open_lazily(data)
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage(Message("The image has no pixels."))
    if width * height > MAX_PIXELS:
        raise InvalidImage(
            Message(
                "The image is {width}x{height} pixels ({megapixels} megapixels); the limit is "
                "{limit} megapixels. Please upload a smaller photo.",
                width=width,
                height=height,
                megapixels=readable.grouped(width * height / 1e6),
                limit=readable.number(MAX_PIXELS / 1e6),
            )
        )
    image_guard.check_decoded_size(image.format, image.mode, image.size)
    if _is_animated(image):
        warnings.append(Message(WARN_ANIMATED))
    orientation = _read_orientation(image)
    try:
        return _load_small(image), orientation, _min_contrast(image)
    except Exception as error:  # Pillow's decoders raise many types on corrupt data.
        raise InvalidImage(
            Message("The image file is truncated or damaged and could not be read.")
        ) from error


def _open_lazily(data: bytes) -> Image.Image:
    """Read only the header, from an allowlist of formats; pixels are not decoded yet."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as error:
        raise InvalidImage(
            Message("The image claims far too many pixels (a decompression bomb); it was refused.")
        ) from error
    except UnidentifiedImageError as error:
        raise InvalidImage(
            Message("This is not an image we can read: upload a PNG, JPEG, WebP, BMP or GIF file.")
        ) from error
    except Exception as error:  # A header that parses halfway raises all sorts.
        raise InvalidImage(Message("The image file is damaged and could not be read.")) from error


def _is_animated(image: Image.Image) -> bool:
    """Whether a second frame follows; a damaged one counts as none (the first is read)."""
    try:
        return bool(getattr(image, "is_animated", False))
    except Exception:  # Pillow reads the start of the second frame to tell; it may be cut.
        return False


def _min_contrast(image: Image.Image) -> float:
    """The smallest paper-to-ink contrast, in gray levels, that the file can show reliably.

    A JPEG stores each 8x8 block's mean brightness in steps of its DC quantizer / 8. Saved
    at very low quality (below about 15) the steps are 20-32 levels, and blank paper turns
    into plateaus a step or two apart, so ink must stand out by more than two steps.
    """
    try:
        step = image.quantization[0][0] / 8  # luminance table; the DC quantizer comes first
    except (AttributeError, LookupError, TypeError):
        return float(MIN_CONTRAST)
    return max(float(MIN_CONTRAST), 2.0 * step)


def _read_orientation(image: Image.Image) -> int:
    """Return the EXIF Orientation (1 = upright); a broken EXIF block counts as upright."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # Malformed EXIF must not make an otherwise fine photo unreadable.
        return 1
    return value if isinstance(value, int) else 1


def _load_small(image: Image.Image) -> Image.Image:
    """Decode the first frame, reduced early so that large photos stay fast."""
    longest = max(image.size)
    if image.format in ("JPEG", "MPO") and longest > WORK_SIZE:
        # Decode at 1/2, 1/4 or 1/8 scale directly from the JPEG's DCT coefficients.
        scale = WORK_SIZE / longest
        image.draft(image.mode, (int(image.width * scale) + 1, int(image.height * scale) + 1))
    image.load()
    mode = _standard_mode(image)
    factor = ceil_div(max(image.size), WORK_SIZE)
    if factor == 1:
        return _converted(image, mode)
    # Strip by strip: converting or reducing the whole photo at once would hold several
    # full-size copies (Pillow's reduce, for one, premultiplies RGBA into a full copy).
    width, height = image.size
    small = Image.new(mode, (ceil_div(width, factor), ceil_div(height, factor)))
    rows = factor * max(1, 256 // factor)
    for top in range(0, height, rows):
        strip = _converted(image.crop((0, top, width, min(top + rows, height))), mode)
        small.paste(strip.reduce(factor), (0, top // factor))
    return small


def _standard_mode(image: Image.Image) -> str:
    """The mode (L, LA, RGB or RGBA) that an image of any decoded mode is converted to."""
    gray = image.mode in ("1", "L", "La", "LA", "F") or image.mode.startswith("I")
    return ("L" if gray else "RGB") + ("A" if image.has_transparency_data else "")


def _converted(image: Image.Image, mode: str) -> Image.Image:
    """Convert to `mode`; 16-bit gray is scaled (65535 is white) where Pillow would clip."""
    if image.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8))
    return image if image.mode == mode else image.convert(mode)


# --- color, orientation and polarity --------------------------------------------------------


def _flatten_transparency(image: Image.Image) -> Image.Image:
    """Composite an image with alpha onto a plain backdrop: white, or black for light ink.

    A drawing canvas leaves the background transparent. Strokes in a dark color go on
    white; when the visible part is both light and sparse (light strokes on a transparent
    canvas) a white backdrop would hide them, so the backdrop is black instead.
    """
    if image.mode not in ("LA", "RGBA"):
        return image
    alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    coverage = float(alpha.mean())
    visible_brightness = float((gray * alpha).sum() / max(alpha.sum(), 1e-6))
    backdrop = 0 if coverage < 0.5 and visible_brightness > 128 else 255
    color_mode = image.mode[:-1]
    background = Image.new(
        color_mode, image.size, backdrop if color_mode == "L" else (backdrop,) * 3
    )
    background.paste(image.convert(color_mode), mask=image.getchannel("A"))
    return background


def _enlarge_if_tiny(gray: np.ndarray) -> np.ndarray:
    """Enlarge small images so that filters and blob finding see strokes several px wide."""
    height, width = gray.shape
    factor = ceil_div(MIN_WORK_SIZE, max(height, width))
    if factor <= 1:
        return gray
    size = (width * factor, height * factor)
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BICUBIC))


def _fix_polarity(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make the ink light on a dark background, as in MNIST; say whether it was inverted.

    Ink is a minority that stands out from its surroundings, so the image's departures
    from a local average (a box blur 40% of the image wide, on a reduced copy) are skewed
    toward the ink's side: toward dark for dark ink on light paper, which is then
    inverted. The third moment of the departures gives the sign. A shadow's edge departs
    as far to the light side as to the dark side and does not tip it, where comparing the
    border's brightness with the extremes flipped under a shadow across half the border.
    """
    small = _reduce_to(gray, GRID_SIZE)
    radius = max(1, round(POLARITY_RADIUS * max(small.shape)))
    local = np.asarray(Image.fromarray(small).filter(ImageFilter.BoxBlur(radius)), np.float32)
    departures = small.astype(np.float32) - local
    inverted = float(np.mean(departures * departures * departures)) < 0.0
    return (255 - gray if inverted else gray), inverted


# --- background and ink ----------------------------------------------------------------------


def _remove_background(
    ink: np.ndarray, inverted: bool, min_contrast: float
) -> tuple[np.ndarray, np.ndarray, _InkStats]:
    """Divide out the paper's uneven lighting and shadows, then keep only the ink, antialiased.

    The paper is estimated twice: first with a window wide enough for any stroke, which
    finds the ink well enough to measure its stroke width; then with a window a few stroke
    widths wide, which follows shadows more closely without hollowing out the strokes.

    Returns:
        The clean image (paper 0, stroke cores 255, soft edges in between), the boolean
        mask of ink pixels, and the brightness statistics used.

    Raises:
        InvalidImage: Nothing stands out from the paper's noise.
    """
    smooth = _smooth(_clamp_impulses(ink))
    side = max(ink.shape)
    first = _flatten(smooth, round(MAX_PAPER_WINDOW * side), inverted)
    stats = _ink_stats(np.bincount(first.ravel(), minlength=256), min_contrast)
    if stats is None:
        raise InvalidImage(Message(NO_DIGIT))
    window = PAPER_WINDOW_STROKES * stroke_width(first > stats.threshold)
    window = np.clip(window, MIN_PAPER_WINDOW * side, MAX_PAPER_WINDOW * side)
    flat = _flatten(smooth, round(float(window)), inverted)
    stats = _ink_stats(np.bincount(flat.ravel(), minlength=256), min_contrast)
    if stats is None:
        raise InvalidImage(Message(NO_DIGIT))
    levels = np.arange(256, dtype=np.float32)
    ramp = (levels - stats.floor) * (255.0 / (stats.ink_level - stats.floor))
    lookup = np.clip(np.round(ramp), 0, 255).astype(np.uint8)
    return lookup[flat], flat > stats.threshold, stats


def _clamp_impulses(ink: np.ndarray) -> np.ndarray:
    """Clamp each pixel between the second darkest and second brightest of its 8 neighbors.

    Salt-and-pepper noise leaves single pixels and pairs far from their neighbors; they
    are pulled back to the paper. A stroke pixel, even on a line 1 px wide, has at least
    two neighbors on the stroke and keeps its value (a line's two end pixels are trimmed).
    """
    padded = np.pad(ink, 1, mode="edge")
    height, width = ink.shape
    neighbors = [
        padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if dy or dx
    ]
    brightest, second = np.maximum(*neighbors[:2]), np.minimum(*neighbors[:2])
    darkest, second_dark = second.copy(), brightest.copy()
    for neighbor in neighbors[2:]:
        np.maximum(second, np.minimum(brightest, neighbor), out=second)
        np.maximum(brightest, neighbor, out=brightest)
        np.minimum(second_dark, np.maximum(darkest, neighbor), out=second_dark)
        np.minimum(darkest, neighbor, out=darkest)
    return np.clip(ink, second_dark, second)


def _smooth(ink: np.ndarray) -> np.ndarray:
    """A 3x3 mean: it divides leftover pixel noise by nine but keeps thin strokes visible."""
    return np.asarray(Image.fromarray(ink).filter(ImageFilter.BoxBlur(1)))


def _flatten(smooth: np.ndarray, window: int, inverted: bool) -> np.ndarray:
    """Subtract the paper's level and, for dark ink, divide out its lighting; paper at 32.

    Light falls on paper and ink alike, so in a shadow the ink's contrast drops with the
    paper's brightness: dividing by the paper's brightness (relative to the well-lit paper)
    restores it. For light ink on a dark ground the ground's level says nothing about the
    light, so it is only subtracted. The paper level goes to 32 rather than 0 so that
    clipping keeps its noise intact.
    """
    paper = _paper_level(smooth, window)
    residual = smooth - paper
    if inverted:
        brightness = 255.0 - paper  # the paper's own gray level, before inversion
        lit = _percentile(np.clip(brightness, 0, 255).astype(np.uint8), 0.9)
        residual *= np.clip(lit / np.maximum(brightness, 1.0), 1.0, MAX_SHADOW_GAIN)
    return np.clip(residual + 32.0, 0, 255).astype(np.uint8)


def _paper_level(smooth: np.ndarray, window: int) -> np.ndarray:
    """Estimate the paper's level at every pixel: its local floor plus its typical texture.

    The floor is a gray-level opening (a minimum then a maximum over `window` px): ink
    strokes narrower than the window rise above it, while a shadow wider than the window,
    even one with a hard edge, is followed exactly. The maximum reaches EDGE_MARGIN px
    further so that the few pixels along a shadow's edge that JPEG ringing or aliasing
    leave above the floor stay below it. The floor hugs the dips of the paper's texture,
    so the texture's local mean above it (ink capped off) is added back.
    """
    erode, dilate = window | 1, (window + EDGE_MARGIN) | 1
    # Padded once by the reach of both filters: a ramp of light running into the border is
    # then followed to the border (padding each filter's input fell short by the ramp's
    # rise over half a window, a bright rim that read as ink on blank paper).
    padded = np.pad(smooth, (erode + dilate) // 2 - 1, mode="edge")
    floor = _sliding(_sliding(padded, erode, np.minimum), dilate, np.maximum)
    above = np.clip(smooth.astype(np.int16) - floor, 0, 255).astype(np.uint8)
    cap = min(255, 2 * _percentile(above, 0.5) + TEXTURE_CAP)
    texture = Image.fromarray(np.minimum(above, cap)).filter(ImageFilter.BoxBlur(window // 2))
    return floor.astype(np.float32) + np.asarray(texture, np.float32)


def _percentile(values: np.ndarray, fraction: float) -> int:
    """The given percentile (as a fraction) of uint8 values, from their histogram."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return int(np.searchsorted(cumulative, fraction * values.size))


def _ink_stats(histogram: np.ndarray, min_contrast: float) -> _InkStats | None:
    """Derive paper level, noise, ink threshold and ink level from a 256-bin histogram.

    The threshold is Otsu's, raised when needed to four noise deviations above the paper:
    Otsu alone drifts into the paper's noise when the ink covers very few pixels. It is
    never less than `min_contrast` above the paper. Returns None when no pixel stands out.
    """
    total = histogram.sum()
    cumulative = np.cumsum(histogram)
    background = int(np.searchsorted(cumulative, total / 2))
    deviations = np.abs(np.arange(256) - background)
    spread = np.bincount(deviations, weights=histogram, minlength=256)
    noise = MAD_TO_SIGMA * float(np.searchsorted(np.cumsum(spread), total / 2))
    threshold = max(_otsu(histogram), background + 4 * noise, background + min_contrast)
    above = histogram[int(threshold) + 1 :]
    if above.sum() == 0:
        return None
    ink_cumulative = np.cumsum(above)
    ink_level = int(threshold) + 1 + int(np.searchsorted(ink_cumulative, 0.75 * above.sum()))
    floor = background + max(3 * noise, 0.08 * (ink_level - background))
    return _InkStats(background, noise, threshold, ink_level, min(floor, threshold))


def _otsu(histogram: np.ndarray) -> float:
    """Return Otsu's threshold: the level that best splits the histogram into two classes."""
    probability = histogram / max(histogram.sum(), 1)
    weight = np.cumsum(probability)
    mean = np.cumsum(probability * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean[-1] * weight - mean) ** 2 / (weight * (1.0 - weight))
    return float(np.argmax(np.nan_to_num(between)))


# --- finding and framing the digit -----------------------------------------------------------


def _crop_to_digit(clean: np.ndarray, mask: np.ndarray, warnings: list[Message]) -> np.ndarray:
    """Crop the clean image to the digit's ink, leaving out specks and far-away marks."""
    keep, factor = _digit_cells(clean > 0, mask, warnings)
    # Grow the kept cells by one so the antialiased rim of each stroke stays in.
    keep = _max_filter(np.pad(keep, 1), 3).repeat(factor, axis=0).repeat(factor, axis=1)
    digit = np.where(keep[: clean.shape[0], : clean.shape[1]], clean, 0).astype(np.uint8)
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    digit = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if not _has_sharp_edges(digit):
        raise InvalidImage(Message(NO_DIGIT))
    return digit


def _has_sharp_edges(digit: np.ndarray) -> bool:
    """Whether the marks rise from paper to ink as ink does: within a short distance.

    Ink's edges are sharp: within 5% of the digit's size the clean image climbs from 0 to
    nearly 255 (at least 225 of 255 in every photo, drawing and MNIST digit measured). A
    soft shadow left over on a blank page climbs over its whole radius (at most 148 of
    255 measured), so it is not taken for ink.
    """
    window = max(3, round(EDGE_WINDOW * max(digit.shape))) | 1
    padded = np.pad(digit, window // 2, mode="edge")
    highest = _sliding(padded, window, np.maximum).astype(np.int16)
    rise = highest - _sliding(padded, window, np.minimum)
    return _percentile(rise[digit > 0].astype(np.uint8), 0.99) >= MIN_EDGE_RISE


def _digit_cells(faint: np.ndarray, strong: np.ndarray, warnings: list[Message]):
    """Find the grid cells that hold the digit; return them and the grid's cell size in px.

    Blobs are traced through faint ink (hysteresis, as in Canny's edge detector) so that a
    thin, light stroke stays attached to its digit, but only blobs holding strong ink count;
    their size is their amount of strong ink.

    Raises:
        InvalidImage: No blob is large enough to be a digit.
    """
    grid, factor = _grid_mask(faint)
    labels, blobs = _find_blobs(grid)
    strong_cells = np.bincount(labels[_grid_mask(strong)[0]], minlength=len(blobs) + 1)
    blobs = [replace(b, area=int(strong_cells[b.label])) for b in blobs if strong_cells[b.label]]
    main = max(blobs, key=lambda blob: blob.area, default=None)
    if main is None or main.area < max(4, grid.size * 2e-4):
        raise InvalidImage(Message(NO_DIGIT))
    kept, far = _group_digit(main, blobs)
    _check_digit_like(kept, blobs, factor)
    if far:
        warnings.append(Message(WARN_BLOBS))
    if _side_by_side([blob for blob in kept if blob.area >= SIDE_BY_SIDE_SHARE * main.area]):
        warnings.append(Message(WARN_SIDE_BY_SIDE))
    box = _union_box(kept)
    height, width = grid.shape
    if box.top == 0 or box.left == 0 or box.bottom == height - 1 or box.right == width - 1:
        warnings.append(Message(WARN_BORDER))
    return np.isin(labels, [blob.label for blob in kept]), factor


def _check_digit_like(kept: list[_Blob], blobs: list[_Blob], factor: int) -> None:
    """Refuse marks too small to be a digit, and a digit that is one speck among many.

    Raises:
        InvalidImage: The kept marks span fewer than MIN_DIGIT_PX pixels, or the image
            holds NOISY_BLOBS marks or more and the kept ones hold less than MIN_SHARE
            of their ink (noise, or a page of writing).
    """
    box = _union_box(kept)
    if (max(box.bottom - box.top, box.right - box.left) + 1) * factor < MIN_DIGIT_PX:
        raise InvalidImage(Message(NO_DIGIT))
    if len(blobs) >= NOISY_BLOBS and box.area < MIN_SHARE * sum(blob.area for blob in blobs):
        raise InvalidImage(Message(NO_DIGIT_SCATTERED))


def _grid_mask(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Pool the ink mask onto a grid of at most GRID_SIZE cells a side.

    A cell is ink when at least a quarter of its pixels are: strokes fill their cells,
    scattered noise does not.
    """
    factor = ceil_div(max(mask.shape), GRID_SIZE)
    if factor == 1:
        return mask, 1
    rows, cols = ceil_div(mask.shape[0], factor), ceil_div(mask.shape[1], factor)
    padded = np.zeros((rows * factor, cols * factor), dtype=np.uint8)
    padded[: mask.shape[0], : mask.shape[1]] = mask
    counts = padded.reshape(rows, factor, cols, factor).sum(axis=(1, 3), dtype=np.int32)
    return counts * 4 >= factor * factor, factor


def _find_blobs(grid: np.ndarray) -> tuple[np.ndarray, list[_Blob]]:
    """Label the 8-connected groups of ink cells; return the label image and the blobs.

    Works on horizontal runs of ink joined row to row with a small union-find, which is
    fast in NumPy + Python because a digit has only a few runs per row.
    """
    padded = np.zeros((grid.shape[0], grid.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = grid
    steps = np.diff(padded, axis=1)
    run_rows, starts = np.nonzero(steps == 1)
    ends = np.nonzero(steps == -1)[1]  # exclusive
    if len(starts) == 0 or len(starts) > MAX_RUNS:
        return np.zeros(grid.shape, dtype=np.int32), []
    roots = _join_runs(run_rows, starts, ends, grid.shape[0])
    _, run_labels = np.unique(roots, return_inverse=True)
    run_labels = run_labels.astype(np.int32) + 1
    labels = np.zeros(grid.shape, dtype=np.int32)
    labels[grid] = np.repeat(run_labels, ends - starts)  # runs are in raster order
    return labels, _describe_blobs(run_labels, run_rows, starts, ends)


def _join_runs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray, height: int) -> list:
    """Union-find over runs: runs on adjacent rows that touch (8-connected) are joined."""
    parent = list(range(len(starts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    bounds = np.searchsorted(rows, np.arange(height + 1)).tolist()
    start, end = starts.tolist(), ends.tolist()
    for row in range(height - 1):
        a, b = bounds[row], bounds[row + 1]
        a_end, b_end = bounds[row + 1], bounds[row + 2]
        while a < a_end and b < b_end:
            if start[b] <= end[a] and start[a] <= end[b]:
                parent[find(a)] = find(b)
            if end[a] < end[b]:
                a += 1
            else:
                b += 1
    return [find(i) for i in range(len(parent))]


def _describe_blobs(run_labels, rows, starts, ends) -> list[_Blob]:
    """Area and bounding box of each labeled blob, from its runs."""
    count = int(run_labels.max())
    area = np.bincount(run_labels, weights=ends - starts, minlength=count + 1)
    top = np.full(count + 1, np.iinfo(np.int64).max)
    left = top.copy()
    bottom = np.full(count + 1, -1)
    right = bottom.copy()
    np.minimum.at(top, run_labels, rows)
    np.maximum.at(bottom, run_labels, rows)
    np.minimum.at(left, run_labels, starts)
    np.maximum.at(right, run_labels, ends - 1)
    return [
        _Blob(i, int(area[i]), int(top[i]), int(left[i]), int(bottom[i]), int(right[i]))
        for i in range(1, count + 1)
    ]


def _group_digit(main: _Blob, blobs: list[_Blob]) -> tuple[list[_Blob], list[_Blob]]:
    """Gather the blobs that belong to the digit: the largest, and sizeable ones near it.

    A hand-written 4 or 5 is often two strokes that do not touch; they lie within the
    digit's own box or close to it. Blobs under 5% of the largest are specks and ignored.
    Returns the kept blobs and the sizeable ones left out because they lie far away.
    """
    parts = [blob for blob in blobs if blob is not main and blob.area >= SPECK_SHARE * main.area]
    boxes = np.array([(b.top, b.left, b.bottom, b.right) for b in parts], dtype=np.int64)
    boxes = boxes.reshape(-1, 4)  # vectorized: a noisy photo can hold thousands of blobs
    taken = np.zeros(len(parts), dtype=bool)
    box = np.array([main.top, main.left, main.bottom, main.right])
    while True:
        reach = GROUP_REACH * (max(box[2] - box[0], box[3] - box[1]) + 1) + 1
        gaps = np.max(
            [
                box[0] - boxes[:, 2],
                boxes[:, 0] - box[2],
                box[1] - boxes[:, 3],
                boxes[:, 1] - box[3],
            ],
            axis=0,
            initial=0,
        )
        near = ~taken & (gaps <= reach)
        if not near.any():
            break
        taken |= near
        box = np.concatenate(
            [
                np.minimum(box[:2], boxes[near, :2].min(axis=0)),
                np.maximum(box[2:], boxes[near, 2:].max(axis=0)),
            ]
        )
    kept = [main] + [part for part, chosen in zip(parts, taken, strict=True) if chosen]
    far = [
        p
        for p, chosen in zip(parts, taken, strict=True)
        if not chosen and p.area >= STRAY_MARK_SHARE * main.area
    ]
    return kept, far


def _side_by_side(blobs: list[_Blob]) -> bool:
    """Whether two of the blobs sit side by side: no column in common, as 1 and 7 in "17".

    Parts of one digit (the bar of a 5, the two strokes of a 4) share columns.
    """
    return any(a.right < b.left for a in blobs for b in blobs)


def _union_box(blobs: list[_Blob]) -> _Blob:
    """The bounding box (and total area) of several blobs, as one unlabeled blob."""
    return _Blob(
        0,
        sum(blob.area for blob in blobs),
        min(blob.top for blob in blobs),
        min(blob.left for blob in blobs),
        max(blob.bottom for blob in blobs),
        max(blob.right for blob in blobs),
    )


def _thicken_thin_strokes(digit: np.ndarray) -> tuple[np.ndarray, bool]:
    """Widen strokes much thinner than MNIST's, as a ballpoint pen's, to MNIST's width.

    MNIST's digits were written with pens whose strokes, once the digit is scaled to 20 px,
    are about 1.8 px wide. A ballpoint digit scaled the same way leaves faint hairlines the
    network rarely saw, so such strokes are grown (a gray-level dilation) first.
    """
    longest = max(digit.shape)
    width = stroke_width(digit >= 128)
    if width >= THIN_STROKE * longest:
        return digit, False
    radius = max(1, round((STROKE_WIDTH * longest - width) / 2))
    return _max_filter(np.pad(digit, 2 * radius), 2 * radius + 1), True


def stroke_width(ink: np.ndarray) -> float:
    """Mean width in pixels of the strokes in a boolean mask.

    It is twice the area over the outline's length: a stroke of width w and length L has
    area w*L and an outline about 2*L long.

    Example:
        >>> stroke_width(np.ones((100, 4), dtype=bool))  # a bar 4 px wide
        3.846...
    """
    padded = np.pad(ink, 1)
    outline = np.count_nonzero(padded[:, 1:] != padded[:, :-1])
    outline += np.count_nonzero(padded[1:, :] != padded[:-1, :])
    return float(2.0 * np.count_nonzero(ink) / max(outline, 1))


def _max_filter(image: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a size x size window; the result is size - 1 smaller on each axis."""
    return _sliding(image, size, np.maximum)


def _sliding(image: np.ndarray, size: int, extreme) -> np.ndarray:
    """`extreme` (np.maximum or np.minimum) over a size x size window, without padding.

    The result is size - 1 smaller on each axis. The window is built by doubling (1, 2, 4,
    ... cells), so it costs about 2*log2(size) array operations per axis instead of size.
    """
    for axis in (0, 1):
        span = 1
        while span < size:
            step = min(span, size - span)
            length = image.shape[axis] - step
            head = (slice(None),) * axis + (slice(0, length),)
            tail = (slice(None),) * axis + (slice(step, step + length),)
            image = extreme(image[head], image[tail])
            span += step
    return image


# --- MNIST's normalization ------------------------------------------------------------------


def _scale_longest_side(digit: np.ndarray, target: int) -> np.ndarray:
    """Resize so the longest side is `target` px, keeping the aspect ratio, antialiased."""
    height, width = digit.shape
    scale = target / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.LANCZOS))


def _pad_to_field(digit: np.ndarray, field: int) -> np.ndarray:
    """Place the digit in the middle of an empty field x field image."""
    height, width = digit.shape
    padded = np.zeros((field, field), dtype=np.uint8)
    top, left = (field - height) // 2, (field - width) // 2
    padded[top : top + height, left : left + width] = digit
    return padded


def _center_by_mass(field: np.ndarray) -> np.ndarray:
    """Shift the digit by whole pixels so that its center of mass lands on (14, 14).

    The shift is limited so that no ink leaves the field; MNIST's own digits have their
    center of mass at (14.0, 14.0) on average, in row/column index coordinates.
    """
    weights = field.astype(np.float64)
    total = weights.sum()
    if total == 0:
        raise InvalidImage(Message(NO_DIGIT))
    shifts = []
    for axis in (0, 1):
        profile = weights.sum(axis=1 - axis)
        center = float(profile @ np.arange(len(profile))) / total
        inked = np.flatnonzero(profile)
        low, high = -int(inked[0]), len(profile) - 1 - int(inked[-1])
        shifts.append(int(np.clip(round(CENTER - center), low, high)))
    return _shift(field, *shifts)


def _shift(image: np.ndarray, down: int, right: int) -> np.ndarray:
    """Move the image's content by whole pixels, filling with zeros (no wrap-around)."""
    height, width = image.shape
    moved = np.zeros_like(image)
    moved[max(down, 0) : height + min(down, 0), max(right, 0) : width + min(right, 0)] = image[
        max(-down, 0) : height - max(down, 0), max(-right, 0) : width - max(right, 0)
    ]
    return moved


# --- small helpers ---------------------------------------------------------------------------


def _reduce_to(gray: np.ndarray, size: int) -> np.ndarray:
    """Box-average a gray image by a whole factor so its longest side is at most `size`."""
    factor = ceil_div(max(gray.shape), size)
    return gray if factor <= 1 else np.asarray(Image.fromarray(gray).reduce(factor))


def _preview(image: Image.Image | np.ndarray) -> np.ndarray:
    """A display copy of a stage: uint8 array, longest side at most PREVIEW_SIZE.

    Every n-th pixel is taken rather than averaged: previews are only looked at, and
    subsampling costs nothing next to a real resize.
    """
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGBA") if image.mode == "LA" else image)
    step = ceil_div(max(image.shape[:2]), PREVIEW_SIZE)
    return image[::step, ::step].copy() if step > 1 else image
