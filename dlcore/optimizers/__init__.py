"""Real Keras optimizers racing on 2-D loss surfaces, with their update rules written out.

Every path comes from a real ``keras.optimizers`` object stepping a float64 ``tf.Variable`` of
shape (2,). Keras accepts float64 variables and keeps its slots in the variable's dtype; only
its learning rate is stored as a float32 variable (then cast to float64 when it is used).

Each optimizer's registry entry holds the LaTeX the learner sees and, next to it, a NumPy
transcription of that same LaTeX; the tests step Keras and the transcription side by side.

The package in layers, each module importing only those above it:

- ``loss_surfaces``: the surfaces, their contour pictures and minima.
- ``rules``: the optimizer registry (Keras class, hyperparameters, update rules), ``build``.
- ``runner``: the traced race loop, its runner and results caches, ``race``.
- ``analysis``: reading a race (end points, steps to a tolerance, inside Adam).
- ``exploration``: ``explore``, the one call the Optimizers page makes, and its notes.

Everything public is imported here: use ``optimizers.race(...)``, not the modules.

Example:
    >>> result = race("bowl", {"sgd": {"learning_rate": 0.1}}, start=(2.0, 1.0), steps=50)
    >>> result["sgd"].path.shape
    (51, 2)
"""

from dlcore.optimizers.analysis import (
    AdamTrace,
    EndPoint,
    end_points,
    inside_adam,
    steps_to_tolerance,
)
from dlcore.optimizers.exploration import KERAS_NOTES, Exploration, explore
from dlcore.optimizers.loss_surfaces import (
    BOWL_CONDITION,
    ContourGrid,
    Surface,
    contour_grid,
    contour_image,
    contour_png,
    distance_to_nearest_minimum,
    get_surface,
    surfaces,
)
from dlcore.optimizers.rules import (
    ADAGRAD_INITIAL_ACCUMULATOR,
    KERAS_ADAM_STEP,
    SEED_ADAM,
    SEED_GRADIENT_DESCENT,
    OptimizerSpec,
    UpdateRule,
    build,
    constructor_code,
    get,
    names,
    resolve_settings,
)
from dlcore.optimizers.runner import (
    COORDINATE_LIMIT,
    DTYPE,
    LOSS_LIMIT,
    MAX_STEPS,
    RaceResult,
    race,
)
from dlcore.registry import Hyperparameter

__all__ = [
    "ADAGRAD_INITIAL_ACCUMULATOR",
    "BOWL_CONDITION",
    "COORDINATE_LIMIT",
    "DTYPE",
    "KERAS_ADAM_STEP",
    "KERAS_NOTES",
    "LOSS_LIMIT",
    "MAX_STEPS",
    "SEED_ADAM",
    "SEED_GRADIENT_DESCENT",
    "AdamTrace",
    "ContourGrid",
    "EndPoint",
    "Exploration",
    "Hyperparameter",
    "OptimizerSpec",
    "RaceResult",
    "Surface",
    "UpdateRule",
    "build",
    "constructor_code",
    "contour_grid",
    "contour_image",
    "contour_png",
    "distance_to_nearest_minimum",
    "end_points",
    "explore",
    "get",
    "get_surface",
    "inside_adam",
    "names",
    "race",
    "resolve_settings",
    "steps_to_tolerance",
    "surfaces",
]
