"""The 2-D loss surfaces the optimizers race on, their contour pictures and their minima.

Each surface is a TensorFlow function of (x, y, c), where c is the bowl's condition number κ
(the other surfaces ignore it), so that ``tf.GradientTape`` gives its gradient.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlcore.i18n import N_
from dlcore.registry import Hyperparameter, Registry


def _tf():
    """TensorFlow, imported on first use so that importing dlcore stays cheap."""
    import tensorflow as tf

    return tf


def _bowl(x, y, c):
    return 0.5 * (x * x + c * y * y)


def _rosenbrock(x, y, c):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _beale(x, y, c):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


def _saddle(x, y, c):
    return x * x - y * y


def _himmelblau(x, y, c):
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def _rastrigin(x, y, c):
    tf = _tf()
    two_pi = 2.0 * math.pi
    return 20.0 + x * x - 10.0 * tf.cos(two_pi * x) + y * y - 10.0 * tf.cos(two_pi * y)


@dataclass(frozen=True, kw_only=True)
class _SurfaceDef:
    """What a surface is, built with keywords (a pair may be a range or a start point).

    Attributes:
        name: Registry key, e.g. ``"rosenbrock"``.
        fn: J(x, y, c) on TensorFlow tensors; c is the bowl's condition number.
        label: Display name.
        latex: The formula of J in LaTeX.
        minima: Every known minimum (x, y); none for the saddle.
        min_value: J at the minima, or None when there is no minimum.
        x_range: The plotting box along x, (low, high); also where a start may be picked.
        y_range: The plotting box along y.
        default_start: Where a race starts unless the learner picks another point.
        description: A few sentences on what the surface teaches.
    """

    name: str
    fn: Callable
    label: str
    latex: str
    minima: tuple[tuple[float, float], ...]
    min_value: float | None
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    default_start: tuple[float, float]
    description: str


_SURFACES: Registry[_SurfaceDef] = Registry(
    "surface",
    (
        _SurfaceDef(
            name="bowl",
            fn=_bowl,
            label=N_("Quadratic bowl"),
            latex=r"J(x, y) = \tfrac{1}{2}\left(x^2 + \kappa\, y^2\right)",
            minima=((0.0, 0.0),),
            min_value=0.0,
            x_range=(-3.0, 3.0),
            y_range=(-3.0, 3.0),
            default_start=(-2.5, 2.0),
            description=N_(
                "A smooth valley. The condition number κ stretches it: one direction "
                "becomes much steeper than the other, and plain gradient descent starts to zig-zag."
            ),
        ),
        _SurfaceDef(
            name="rosenbrock",
            fn=_rosenbrock,
            label=N_("Rosenbrock"),
            latex=r"J(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
            minima=((1.0, 1.0),),
            min_value=0.0,
            x_range=(-2.0, 2.0),
            y_range=(-1.0, 3.0),
            default_start=(-1.5, 2.0),
            description=N_(
                "A long curved banana-shaped valley: finding the valley is easy, "
                "following it to the minimum at (1, 1) is slow."
            ),
        ),
        _SurfaceDef(
            name="beale",
            fn=_beale,
            label=N_("Beale"),
            latex=r"J(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            minima=((3.0, 0.5),),
            min_value=0.0,
            x_range=(-4.5, 4.5),
            y_range=(-4.5, 4.5),
            default_start=(-1.0, 1.5),
            description=N_("Flat plateaus next to very steep walls; the minimum sits at (3, 0.5)."),
        ),
        _SurfaceDef(
            name="saddle",
            fn=_saddle,
            label=N_("Saddle"),
            latex=r"J(x, y) = x^2 - y^2",
            minima=(),
            min_value=None,
            x_range=(-2.0, 2.0),
            y_range=(-2.0, 2.0),
            default_start=(-1.8, 0.01),
            description=N_(
                "No minimum at all: it curves up along x and down along y, so the loss "
                "falls forever. The point (0, 0) is a saddle where the gradient is zero; watch who "
                "escapes it."
            ),
        ),
        _SurfaceDef(
            name="himmelblau",
            fn=_himmelblau,
            label=N_("Himmelblau"),
            latex=r"J(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            minima=(
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.283185991286169),
                (3.5844283403304917, -1.8481265269644034),
            ),
            min_value=0.0,
            x_range=(-5.0, 5.0),
            y_range=(-5.0, 5.0),
            default_start=(-0.3, -0.9),
            description=N_(
                "Four minima, all with loss 0: which one an optimizer finds depends on "
                "where it starts."
            ),
        ),
        _SurfaceDef(
            name="rastrigin",
            fn=_rastrigin,
            label=N_("Rastrigin"),
            latex=r"J(x, y) = 20 + x^2 - 10\cos(2\pi x) + y^2 - 10\cos(2\pi y)",
            minima=((0.0, 0.0),),
            min_value=0.0,
            x_range=(-5.12, 5.12),
            y_range=(-5.12, 5.12),
            default_start=(2.3, -1.7),
            description=N_(
                "An egg-crate of local minima around one global minimum at (0, 0): "
                "gradient methods usually get stuck in the nearest dip."
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface J(x, y) computed by TensorFlow, with its known minima.

    Attributes:
        name: Registry key, e.g. ``"rosenbrock"``.
        condition: The bowl's condition number κ (1.0 for every other surface).
    """

    name: str
    condition: float = 1.0

    @property
    def _def(self) -> _SurfaceDef:
        return _SURFACES.get(self.name)

    label = property(lambda self: self._def.label)
    latex = property(lambda self: self._def.latex)
    minima = property(lambda self: self._def.minima)
    min_value = property(lambda self: self._def.min_value)
    x_range = property(lambda self: self._def.x_range)
    y_range = property(lambda self: self._def.y_range)
    default_start = property(lambda self: self._def.default_start)
    description = property(lambda self: self._def.description)

    @property
    def has_minimum(self) -> bool:
        """Whether the surface has a minimum at all (the saddle has none)."""
        return self.min_value is not None

    def tf_value(self, x, y):
        """J(x, y) on TensorFlow tensors of any (matching) shape."""
        return self._def.fn(x, y, self.condition)

    def value(self, points) -> np.ndarray:
        """J at points of shape (..., 2), computed by TensorFlow in float64."""
        tf = _tf()
        p = tf.constant(np.asarray(points, dtype=np.float64))
        return self.tf_value(p[..., 0], p[..., 1]).numpy()

    def gradient(self, points) -> np.ndarray:
        """∇J at points of shape (..., 2), computed by ``tf.GradientTape`` in float64."""
        tf = _tf()
        p = tf.constant(np.asarray(points, dtype=np.float64))
        with tf.GradientTape() as tape:
            tape.watch(p)
            total = tf.reduce_sum(self.tf_value(p[..., 0], p[..., 1]))
        return tape.gradient(total, p).numpy()


def surfaces() -> tuple[str, ...]:
    """The names of the available surfaces, in display order."""
    return _SURFACES.names()


def surface_fn(name: str) -> Callable:
    """J(x, y, c) of the surface ``name``, for traced code where κ = c is a tensor."""
    return _SURFACES.get(name).fn


# The bowl's condition number κ: its default and range, for get_surface and the page's control.
BOWL_CONDITION = Hyperparameter(
    "condition",
    N_("Condition number κ (how stretched)"),
    10.0,
    1.0,
    1000.0,
    log=True,
    symbol=r"\kappa",
)


def get_surface(name: str, condition: float = BOWL_CONDITION.default) -> Surface:
    """The surface called ``name``; ``condition`` (κ, 1–1000) only shapes the bowl.

    Raises:
        ValueError: Unknown name or a condition number outside [1, 1000].
    """
    _SURFACES.get(name)  # ValueError naming the valid surfaces if there is none by this name
    if name != "bowl":
        return Surface(name)
    return Surface(name, BOWL_CONDITION.check(condition, name))


def resolve_surface(surface: str | Surface) -> Surface:
    """A checked ``Surface`` from a name or a ``Surface`` (ValueError if neither is valid)."""
    if isinstance(surface, Surface):
        return get_surface(surface.name, surface.condition) if surface.name == "bowl" else surface
    return get_surface(surface)  # a name, or ValueError naming the valid ones


@dataclass(frozen=True)
class ContourGrid:
    """A surface sampled on a regular grid for a contour plot.

    Attributes:
        x: Grid abscissae, shape (n,).
        y: Grid ordinates, shape (n,).
        z: J(x, y), shape (n, n), rows follow y.
        level: What to colour: log10(1 + J - J*) when there is a minimum J*, else J itself.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    level: np.ndarray


def contour_grid(surface: str | Surface, resolution: int = 80) -> ContourGrid:
    """Sample ``surface`` over its plotting box; the log level keeps steep walls readable."""
    surf = resolve_surface(surface)
    x = np.linspace(*surf.x_range, resolution)
    y = np.linspace(*surf.y_range, resolution)
    xx, yy = np.meshgrid(x, y)
    z = surf.value(np.stack([xx, yy], axis=-1))
    level = np.log10(1.0 + z - surf.min_value) if surf.has_minimum else z
    return ContourGrid(x, y, z, level)


# Colours of the contour picture: low loss is deep blue, high loss is nearly white.
_LOW_RGB = np.array([8.0, 48.0, 107.0])
_HIGH_RGB = np.array([247.0, 251.0, 255.0])


def contour_image(grid: ContourGrid, bands: int = 24) -> np.ndarray:
    """The grid as a banded contour picture, shape (n, n, 3) uint8, top row = largest y.

    A picture rather than a Plotly contour trace because Plotly drops non-scatter traces while
    it animates frames; a layout image stays put. Each band of ``level`` gets one shade and the
    pixels where the band changes are darkened, which draws the contour lines.
    """
    span = np.ptp(grid.level) or 1.0
    band = np.minimum((grid.level - grid.level.min()) / span * bands, bands - 1).astype(int)
    rgb = _LOW_RGB + (_HIGH_RGB - _LOW_RGB) * (band / (bands - 1))[..., None]
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge] *= 0.7
    return np.round(rgb[::-1]).astype(np.uint8)


def contour_png(surface: str | Surface, resolution: int = 300) -> bytes:
    """``contour_image`` of the surface sampled at ``resolution``², encoded as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(contour_image(contour_grid(surface, resolution))).save(buffer, format="PNG")
    return buffer.getvalue()


def distance_to_nearest_minimum(surface: str | Surface, point) -> float | None:
    """Euclidean distance from ``point`` to the closest known minimum (None: no minimum)."""
    surf = resolve_surface(surface)
    if not surf.minima:
        return None
    gaps = np.asarray(surf.minima) - np.asarray(point, dtype=np.float64)
    return float(np.min(np.linalg.norm(gaps, axis=1)))
