"""Every list of names agrees with its registry: configs, models, the tables keyed by name.

The pages' select boxes are checked against the registries in tests/app/test_page_name_lists.py.
"""

import pytest

from dlcore import activations, configs, losses, models, optimizers
from dlcore.configs import MnistConfig, RegressionConfig


@pytest.mark.parametrize(
    ("listed", "registered"),
    [
        (configs.MNIST_OPTIMIZERS, optimizers.names()),
        (configs.REGRESSION_OPTIMIZERS, optimizers.names()),
        (configs.REGRESSION_ACTIVATIONS, activations.names()),
    ],
    ids=["mnist-optimizers", "regression-optimizers", "regression-activations"],
)
def test_every_name_a_config_accepts_is_registered(listed, registered):
    assert set(listed) <= set(registered), set(listed) - set(registered)
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("name", configs.MNIST_OPTIMIZERS)
def test_the_cnn_builds_each_mnist_optimizer_from_the_registry(name):
    config = MnistConfig(optimizer=name, conv1_filters=4, conv2_filters=4, dense_units=8)
    optimizer = models.build_cnn(config).optimizer
    assert type(optimizer).__name__ == optimizers.get(name).keras_class
    assert optimizers.get(name).keras_class in models.keras_code(config)


@pytest.mark.parametrize("name", configs.REGRESSION_OPTIMIZERS)
def test_the_regression_mlp_builds_each_regression_optimizer_from_the_registry(name):
    config = RegressionConfig(optimizer=name)
    optimizer = models.build_regression_mlp(config).optimizer
    assert type(optimizer).__name__ == optimizers.get(name).keras_class
    assert optimizers.get(name).keras_class in models.keras_code(config)


@pytest.mark.parametrize("name", configs.REGRESSION_ACTIVATIONS)
def test_the_regression_mlp_builds_each_regression_activation(name):
    model = models.build_regression_mlp(RegressionConfig(activation=name))
    assert model.get_layer("hidden").activation is not None


def test_the_tables_keyed_by_loss_name_cover_the_registry():
    assert list(losses.EXAMPLE_INPUTS) == losses.names()
    assert set(losses.CLASSIFICATION_GRADIENT_LATEX) <= set(losses.names())
    assert set(losses.regression_names()) <= set(losses.names())


@pytest.mark.parametrize(
    ("names", "label"),
    [
        (activations.names(), lambda n: activations.get(n).title),
        (losses.names(), lambda n: losses.get(n).title),
        (optimizers.names(), lambda n: optimizers.get(n).label),
        (optimizers.surfaces(), lambda n: optimizers.get_surface(n).label),
    ],
    ids=["activations", "losses", "optimizers", "surfaces"],
)
def test_each_registry_labels_its_names_one_to_one(names, label):
    """Select boxes show labels: two names with one label could not be told apart."""
    labels = [label(name) for name in names]
    assert len(set(labels)) == len(labels) == len(set(names))
