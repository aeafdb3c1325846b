"""Frozen, validated configurations of the two training demos.

Widgets fill a config, dlcore consumes it, and its hash is part of the cache key. The
module does not import TensorFlow so that the cache and the sidebar can use it cheaply.
Every field is bounded: a crafted request cannot make the server train a model of absurd
size.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from dlcore.arithmetic import ceil_div
from dlcore.errors import TrainingTooLarge
from dlcore.i18n import Message

# The choices each demo offers: names of the optimizer and activation registries (models build
# them from there); tests/test_name_lists.py checks that every name here is registered.
MNIST_OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw", "nadam")
REGRESSION_OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adagrad")
REGRESSION_ACTIVATIONS = ("relu", "sigmoid", "tanh", "elu", "gelu", "swish", "softplus", "linear")
SCHEDULES = ("cosine", "constant")
# "auto": the device's measured choice (dlcore.device); "float32": full precision everywhere,
# as the tutorial trains.
PRECISIONS = ("auto", "float32")
NORMALIZATIONS = ("minmax", "standard")

# The numeric bounds each config validates (inclusive); pages build their widgets from these
# tables too, so a control can never produce a config that fails.
MNIST_BOUNDS = {
    "epochs": (1, 50),
    "batch_size": (8, 2048),
    "learning_rate": (1e-6, 1.0),
    "conv1_filters": (1, 256),
    "conv2_filters": (1, 256),
    "dense_units": (1, 1024),
    "dropout": (0.0, 0.9),
    "train_size": (100, 60_000),
    "validation_size": (0, 10_000),
    "seed": (0, 2**31 - 1),
}
REGRESSION_BOUNDS = {
    "hidden_units": (1, 256),
    "learning_rate": (1e-6, 10.0),
    "epochs": (1, 2000),
    "batch_size": (1, 4096),
    "test_fraction": (0.05, 0.5),
    "seed": (0, 2**31 - 1),
}


# Work caps. The server trains one job at a time for the whole class (DLCORE_MAX_JOBS), so
# no single run may hold that slot for long. The default MNIST recipe takes ~1 minute on
# 2 CPU cores (bench/train_mnist.py), the default regression ~7 s (bench/regression_train.py).
MAX_MNIST_WORK = 10.0  # multiply-adds of a whole run, relative to the default recipe's
MAX_MNIST_STEPS = 30_000  # optimizer steps (tiny batches: each step has a fixed cost)
MAX_REGRESSION_STEPS = 100_000  # ~1.3 ms each on CPU: about 2 minutes


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Number of optimizer steps in one pass over num_examples (last batch may be short)."""
    return max(1, ceil_div(num_examples, batch_size))


def _cnn_multiply_adds(conv1: int, conv2: int, dense: int) -> int:
    """One forward pass of the tutorial's CNN on one image: 3x3 valid convolutions and 2x2
    pooling take 28 -> 26 -> 13 -> 11 -> 5 pixels a side, then dense and the 10 outputs."""
    return 26 * 26 * 9 * conv1 + 11 * 11 * 9 * conv1 * conv2 + 5 * 5 * conv2 * dense + dense * 10


# The default recipe (3 epochs of 55,000 images, widths 32/64/128): MnistConfig.work = 1.
_DEFAULT_MNIST_WORK = 3 * 55_000 * _cnn_multiply_adds(32, 64, 128)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            Message("{name} must be a whole number, got {value}", name=name, value=repr(value))
        )
    if not low <= value <= high:
        raise ValueError(
            Message(
                "{name} must be between {low} and {high}, got {value}",
                name=name,
                low=low,
                high=high,
                value=value,
            )
        )


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            Message("{name} must be a number, got {value}", name=name, value=repr(value))
        )
    if not low <= float(value) <= high:  # NaN fails this comparison too
        raise ValueError(
            Message(
                "{name} must be between {low} and {high}, got {value}",
                name=name,
                low=f"{low:g}",
                high=f"{high:g}",
                value=value,
            )
        )


def _check_bounds(config: object, bounds: dict[str, tuple]) -> None:
    for name, (low, high) in bounds.items():
        check = _check_int if isinstance(low, int) else _check_float
        check(name, getattr(config, name), low, high)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            Message(
                "{name} must be one of {choices}; got {value}",
                name=name,
                choices=", ".join(choices),
                value=repr(value),
            )
        )


class _Config:
    """Shared behaviour: a stable dict/JSON form used for hashing and display."""

    kind: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, **self.to_dict()}, sort_keys=True)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class MnistConfig(_Config):
    """Settings of the MNIST CNN; the defaults are the measured fast 99 % recipe."""

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 2e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    conv1_filters: int = 32
    conv2_filters: int = 64
    dense_units: int = 128
    dropout: float = 0.0
    batch_norm: bool = False
    augment: bool = False
    train_size: int = 55_000
    validation_size: int = 5_000
    seed: int = 0
    precision: str = "auto"

    kind = "mnist"

    def __post_init__(self) -> None:
        _check_bounds(self, MNIST_BOUNDS)
        _check_choice("optimizer", self.optimizer, MNIST_OPTIMIZERS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.batch_norm, bool) or not isinstance(self.augment, bool):
            raise ValueError(Message("batch_norm and augment must be True or False"))
        if self.train_size + self.validation_size > 60_000:
            raise ValueError(
                Message(
                    "train_size + validation_size cannot exceed the 60,000 training images "
                    "(the validation images are held out of training)"
                )
            )
        self._check_work()

    @property
    def steps(self) -> int:
        """Optimizer steps of the whole run."""
        return self.epochs * steps_per_epoch(self.train_size, self.batch_size)

    @property
    def multiply_adds_per_image(self) -> int:
        """Multiply-adds of one forward pass of this network on one image."""
        return _cnn_multiply_adds(self.conv1_filters, self.conv2_filters, self.dense_units)

    @property
    def work(self) -> float:
        """Multiply-adds of the whole run relative to the default recipe (1.0 = default).

        Counts the layers' arithmetic over every training image of every epoch; the extra
        cost of augmentation and batch normalization is left out.
        """
        run = self.epochs * self.train_size * self.multiply_adds_per_image
        return run / _DEFAULT_MNIST_WORK

    def _check_work(self) -> None:
        if self.work > MAX_MNIST_WORK:
            raise TrainingTooLarge(
                Message(
                    "this run is {work}× the default recipe's arithmetic; the limit is "
                    "{limit}×, so that one run cannot hold the class's training slot for long. "
                    "Lower the epochs or the training images, or make the network narrower",
                    work=f"{self.work:.1f}",
                    limit=f"{MAX_MNIST_WORK:g}",
                )
            )
        if self.steps > MAX_MNIST_STEPS:
            raise TrainingTooLarge(
                Message(
                    "this run takes {steps} optimizer steps; the limit is {limit}. Lower the "
                    "epochs or the training images, or use larger batches",
                    steps=f"{self.steps:,}",
                    limit=f"{MAX_MNIST_STEPS:,}",
                )
            )


# The "quick" preset: a short run on a slice of the data, for a first look in seconds.
# A higher rate suits its 376 steps (validation 99.05/98.75 % against 98.5 % at 2e-3).
MNIST_QUICK = MnistConfig(epochs=2, learning_rate=3e-3, train_size=12_000, validation_size=2_000)

# The tutorial's own recipe (§5.2): model.fit(train_images, train_labels, epochs=5) with Keras'
# defaults, i.e. batch 32 and Adam at a constant 0.001, on all 60,000 training images (none
# held out) in float32.
MNIST_TUTORIAL = MnistConfig(
    epochs=5,
    batch_size=32,
    learning_rate=1e-3,
    schedule="constant",
    train_size=60_000,
    validation_size=0,
    precision="float32",
)


@dataclass(frozen=True)
class RegressionConfig(_Config):
    """Settings of the 1 -> hidden -> 1 house-price network; defaults follow the tutorial."""

    hidden_units: int = 10
    activation: str = "relu"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    epochs: int = 200
    batch_size: int = 32
    normalization: str = "minmax"
    test_fraction: float = 0.2
    seed: int = 0

    kind = "regression"

    def __post_init__(self) -> None:
        _check_bounds(self, REGRESSION_BOUNDS)
        _check_choice("activation", self.activation, REGRESSION_ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, REGRESSION_OPTIMIZERS)
        _check_choice("normalization", self.normalization, NORMALIZATIONS)

    def steps(self, train_rows: int) -> int:
        """Optimizer steps of the whole run on ``train_rows`` training rows."""
        return self.epochs * steps_per_epoch(train_rows, self.batch_size)

    def check_steps(self, train_rows: int) -> None:
        """Refuse a run on ``train_rows`` rows that would hold the training slot too long.

        Raises:
            TrainingTooLarge: more than MAX_REGRESSION_STEPS optimizer steps.
        """
        steps = self.steps(train_rows)
        if steps > MAX_REGRESSION_STEPS:
            raise TrainingTooLarge(
                Message(
                    "{epochs} epochs of {rows} houses in batches of {batch_size} make {steps} "
                    "optimizer steps; the limit is {limit}. Use fewer epochs or larger batches",
                    epochs=f"{self.epochs:,}",
                    rows=f"{train_rows:,}",
                    batch_size=self.batch_size,
                    steps=f"{steps:,}",
                    limit=f"{MAX_REGRESSION_STEPS:,}",
                )
            )
