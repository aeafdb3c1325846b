"""Activations: Keras' numbers against NumPy formulas, finite differences and the LaTeX shown.

The LaTeX check translates each formula the learner reads into NumPy with a small restricted
translator (tests/support/latex.py) and evaluates every side of every "=" at sample points,
kinks included.
A formula outside the translator's subset fails loudly, so a new entry cannot skip the check.
"""

import dataclasses
import math
import pickle
import re

import numpy as np
import pytest

from dlcore import activations, i18n
from tests.support.latex import latex_sides

# ---------------------------------------------------------------------------------------------
# Independent NumPy references, written from the textbook definitions (not from dlcore).
# ---------------------------------------------------------------------------------------------

_erfc = np.vectorize(math.erfc, otypes=[float])


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ALPHA_SELU, SCALE_SELU = 1.6732632423543772, 1.0507009873554805
REFERENCES = {
    "sigmoid": _np_sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SCALE_SELU * np.where(x > 0, x, ALPHA_SELU * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * _erfc(-x / np.sqrt(2.0)),
    "swish": lambda x: x * _np_sigmoid(x),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "linear": lambda x: x,
}
# Points where the derivative jumps: finite differences are meaningless exactly there.
KINKS = {
    "relu": [0.0],
    "leaky_relu": [0.0],
    "elu": [0.0],
    "selu": [0.0],
    "hard_sigmoid": [-3.0, 3.0],
}
# Two float32 constants inside TensorFlow's float64 kernels, measured and explained:
# - leaky ReLU's alpha is a float32 attribute of the op: 0.2 becomes 0.2000000030 (1.5e-8);
# - tf.nn.gelu casts the Python float 1/sqrt(2) through float32 before erfc, and erfc's steep
#   tail amplifies that to ~6e-7 relative error at x = -6.
# Only these two entries get a looser relative tolerance; everything else is held to 1e-12.
RTOL = {"leaky_relu": 1e-7, "gelu": 1e-6}
GRID = np.linspace(-8.0, 8.0, 161) + 0.0123  # offset keeps the grid off every kink
WITH_KINKS = np.concatenate([GRID, [-3.0, 0.0, 3.0]])
ELEMENTWISE = activations.elementwise_names()
REQUIRED = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "linear",
    "softmax",
]


def test_registry_has_every_required_activation_with_its_documentation():
    assert set(REQUIRED) <= set(activations.names())
    for name in activations.names():
        entry = activations.get(name)
        for text in (entry.latex, entry.derivative_latex, entry.range, entry.use, entry.title):
            assert isinstance(text, str) and text.strip(), (name, text)
        assert "-" not in entry.range, entry.range  # a true minus (−), as dlcore.readable writes


@pytest.mark.parametrize("name", list(REFERENCES))
def test_value_matches_numpy_reference(name):
    np.testing.assert_allclose(
        activations.get(name).value(WITH_KINKS),
        REFERENCES[name](WITH_KINKS),
        rtol=RTOL.get(name, 1e-12),
        atol=1e-12,
    )


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_finite_differences(name):
    x = GRID[np.all([np.abs(GRID - k) > 1e-3 for k in KINKS.get(name, [np.inf])], axis=0)]
    step = 1e-6
    entry = activations.get(name)
    numeric = (entry.value(x + step) - entry.value(x - step)) / (2 * step)
    np.testing.assert_allclose(entry.derivative(x), numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_side_of_the_shown_formula_equals_keras(name):
    entry = activations.get(name)
    env = {"x": WITH_KINKS, **entry.symbols}
    for side in latex_sides(entry.latex):
        np.testing.assert_allclose(
            side(env),
            entry.value(WITH_KINKS),
            rtol=RTOL.get(name, 1e-12),
            atol=1e-12,
        )


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_every_side_of_the_shown_derivative_equals_the_tape_kinks_included(name):
    entry = activations.get(name)
    env = {"x": WITH_KINKS, **entry.symbols}
    for side in latex_sides(entry.derivative_latex):
        expected = np.broadcast_to(side(env), WITH_KINKS.shape)
        np.testing.assert_allclose(
            expected,
            entry.derivative(WITH_KINKS),
            rtol=RTOL.get(name, 1e-12),
            atol=1e-12,
        )


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        ("hard_sigmoid", r"f(x) = \max(0, \min(1, \frac{x}{5} + \frac{1}{2}))"),  # Keras 2's
        ("gelu", r"f(x) = \frac{x}{2}(1 + \tanh(\sqrt{\frac{2}{\pi}}(x + 0.044715x^3)))"),
        ("selu", r"f(x) = \begin{cases} x & x > 0 \\ \alpha\,(e^x - 1) & x \le 0 \end{cases}"),
    ],
)
def test_the_latex_check_catches_a_formula_that_differs_from_the_code(name, wrong):
    """Near misses (an old Keras formula, an approximation, a missing scale) are caught."""
    entry = activations.get(name)
    code = entry.value(GRID)
    wrong_value = latex_sides(wrong)[0]({"x": GRID, **entry.symbols})
    assert not np.allclose(wrong_value, code, rtol=1e-5, atol=1e-7)


def test_the_seed_tutorials_formulas_are_shown_exactly():
    assert activations.get("sigmoid").latex == r"\sigma(x) = \frac{1}{1 + e^{-x}}"
    assert activations.get("relu").latex == r"\text{ReLU}(x) = \max(0, x)"
    assert activations.get("tanh").latex == r"\text{Tanh}(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}}"


@pytest.mark.parametrize(("name", "alpha"), [("leaky_relu", 0.05), ("elu", 2.5)])
def test_alpha_is_bound_by_get_and_changes_the_negative_side(name, alpha):
    entry = activations.get(name, alpha=alpha)
    assert entry.params["alpha"] == alpha and entry.symbols[r"\alpha"] == alpha
    x = np.array([-1.5, 0.0, 2.0])
    env = {"x": x, **entry.symbols}
    np.testing.assert_allclose(latex_sides(entry.latex)[0](env), entry.value(x), rtol=1e-7)
    np.testing.assert_allclose(
        latex_sides(entry.derivative_latex)[0](env), entry.derivative(x), rtol=1e-7
    )
    assert entry.derivative(x)[2] == 1.0
    assert entry.derivative(x)[0] != activations.get(name).derivative(x)[0]


def test_unknown_names_and_parameters_raise_value_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"'swishy'.*sigmoid.*softmax"):
        activations.get("swishy")
    with pytest.raises(ValueError, match=r"'beta'.*alpha"):
        activations.get("leaky_relu", beta=1.0)
    with pytest.raises(ValueError, match=r"'alpha'.*none"):
        activations.get("relu", alpha=0.1)
    with pytest.raises(ValueError, match="alpha"):
        activations.get("elu", alpha=float("nan"))


def test_softmax_is_a_probability_vector_and_its_derivative_is_the_jacobian():
    z = np.array([1.0, -0.5, 2.0, 0.3])
    entry = activations.get("softmax")
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(entry.value(z), p, rtol=1e-12)
    np.testing.assert_allclose(latex_sides(entry.latex)[0]({"z": z}), entry.value(z), rtol=1e-12)
    np.testing.assert_allclose(entry.derivative(z), np.diag(p) - np.outer(p, p), atol=1e-12)
    batch = np.stack([z, z[::-1]])
    assert entry.derivative(batch).shape == (2, 4, 4)
    np.testing.assert_allclose(entry.derivative(batch)[1], entry.derivative(z[::-1]), atol=1e-12)


def test_softmax_temperature_sharpens_or_flattens_the_distribution():
    logits = [2.0, 1.0, 0.1]
    reference = np.exp(np.array(logits) / 0.5) / np.exp(np.array(logits) / 0.5).sum()
    np.testing.assert_allclose(activations.softmax(logits, 0.5), reference, rtol=1e-12)
    assert activations.softmax(logits, 0.05)[0] > 0.999
    assert np.ptp(activations.softmax(logits, 100.0)) < 0.01
    shown = latex_sides(activations.SOFTMAX_TEMPERATURE_LATEX)[0]
    np.testing.assert_allclose(shown({"z": np.array(logits), "T": 0.5}), reference, rtol=1e-12)
    view = activations.softmax_view(logits, 2.0)
    np.testing.assert_allclose(view.probabilities, activations.softmax(logits, 2.0))
    np.testing.assert_allclose(view.probabilities_t1, activations.softmax(logits, 1.0))
    with pytest.raises(ValueError, match="temperature"):
        activations.softmax(logits, 0.0)


def test_saturation_regions_are_where_the_slope_is_below_one_hundredth():
    view = activations.explore(["sigmoid", "relu", "linear"], -10.0, 10.0, 1.0, points=2001)
    left, right = view.curves["sigmoid"].saturated
    edge = math.acosh(1.0 / (2 * 0.01) - 1.0)  # sigma'(x) = 0.01 <=> 2 + 2 cosh(x) = 100
    assert left[0] == -10.0 and right[1] == 10.0
    assert abs(left[1] + edge) < 0.011 and abs(right[0] - edge) < 0.011
    assert view.curves["relu"].saturated == [(-10.0, 0.0)]
    assert view.curves["linear"].saturated == []


def test_explore_reports_the_probe_and_refuses_an_empty_range():
    view = activations.explore(["tanh", "leaky_relu"], -2, 2, -0.7, {"leaky_relu": {"alpha": 0.3}})
    assert view.probe["tanh"].value == pytest.approx(np.tanh(-0.7), rel=1e-12)
    assert view.probe["tanh"].derivative == pytest.approx(1 - np.tanh(-0.7) ** 2)
    assert view.probe["leaky_relu"].derivative == pytest.approx(0.3)
    with pytest.raises(ValueError, match="greater"):
        activations.explore(["tanh"], 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="vector"):
        activations.explore(["softmax"], -1.0, 1.0, 0.0)


def test_the_probe_lies_on_the_plotted_curve_or_is_refused():
    """The dot drawn at the probe sits on its curve: at an end of the range it is the curve's
    end point, and a probe outside the range (a dot floating beside the plot) is refused."""
    view = activations.explore(["gelu", "relu"], -6.0, 6.0, -6.0)
    for name in ("gelu", "relu"):
        assert view.probe[name].value == pytest.approx(view.curves[name].value[0], abs=1e-15)
        assert view.probe[name].derivative == pytest.approx(view.curves[name].derivative[0])
    for outside in (-10.0, 6.05):
        with pytest.raises(ValueError, match="within the plotted range"):
            activations.explore(["gelu"], -6.0, 6.0, outside)


def _numpy_layer_gradients(n_layers, width=32, batch=64, seed=0):
    """Backpropagation written out by hand for a sigmoid stack, drawing the same weights."""
    rng = np.random.default_rng(seed)
    limit = np.sqrt(6.0 / (2 * width))
    weights = [rng.uniform(-limit, limit, (width, width)) for _ in range(n_layers)]
    hidden = [rng.standard_normal((batch, width))]
    for kernel in weights:
        hidden.append(_np_sigmoid(hidden[-1] @ kernel))
    upstream, norms = np.full((batch, width), 1.0 / batch), []
    for layer in range(n_layers, 0, -1):
        delta = upstream * hidden[layer] * (1 - hidden[layer])
        norms.append(np.linalg.norm(hidden[layer - 1].T @ delta))
        upstream = delta @ weights[layer - 1].T
    norms = np.array(norms[::-1])
    return norms / norms[-1]


def test_layer_gradients_match_backpropagation_by_hand():
    np.testing.assert_allclose(
        activations.layer_gradients("sigmoid", 4), _numpy_layer_gradients(4), rtol=1e-10
    )


def test_deep_sigmoid_stacks_starve_the_first_layer_but_relu_does_not():
    view = activations.vanishing_view(["sigmoid", "tanh", "relu"], 20)
    first = {name: curve.relative_gradient[0] for name, curve in view.curves.items()}
    assert first["sigmoid"] < 1e-6 < 1e-2 < first["relu"]
    assert first["tanh"] > 1e-2
    assert all(curve.relative_gradient[-1] == 1.0 for curve in view.curves.values())
    assert view.curves["sigmoid"].max_slope == pytest.approx(0.25, rel=1e-9)
    assert view.curves["sigmoid"].slope_factor == pytest.approx(0.25**19, rel=1e-8)
    assert view.curves["relu"].max_slope == 1.0
    with pytest.raises(ValueError, match="n_layers"):
        activations.layer_gradients("relu", 0)


def test_views_are_frozen_and_survive_the_pickling_of_the_page_cache():
    """st.cache_data pickles what a page caches; a view must come back equal, and stay put."""
    views = [
        activations.explore(["relu"], -1.0, 1.0, 0.5, points=5),
        activations.vanishing_view(["relu"], 3),
        activations.softmax_view([1.0, 0.0], 1.0),
    ]
    for view in views:
        assert pickle.loads(pickle.dumps(view)) == view
        field = dataclasses.fields(view)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(view, field, None)
    assert views[0].curves["relu"].saturated == [(-1.0, 0.0)]


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_elu_is_smooth_at_zero_exactly_when_alpha_is_one_as_its_note_says(alpha):
    elu = activations.get("elu", alpha=alpha)
    left, right = (float(elu.derivative(np.array([x]))[0]) for x in (-1e-7, 1e-7))
    assert left == pytest.approx(alpha, rel=1e-5) and right == pytest.approx(1.0)
    assert (left == pytest.approx(right)) == (alpha == 1.0)
    assert "smooth at 0 only when α = 1" in elu.use


# Names inside \text{…} stay as they are in every language; any other word there is a message.
TEXT_NAMES = {
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "SELU",
    "GELU",
    "swish",
    "softplus",
    "softsign",
    r"hard\_sigmoid",
    "ReLU6",
    "softmax",
}


def test_every_word_in_a_formula_is_a_name_or_goes_through_the_catalogue():
    for name in activations.names():
        entry = activations.get(name)
        for latex in (entry.latex, entry.derivative_latex):
            for inside in re.findall(r"\\text\{([^{}]*)\}", latex):
                assert inside in TEXT_NAMES or inside in activations.TEXT_WORDS, (name, inside)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_formula_shown_in_either_language_is_the_formula_checked_against_keras(language):
    """Only the words inside \\text{…} change with the language: the shown formula, with its
    words read back in English, is the one the LaTeX tests above evaluate."""
    with i18n.using(language):
        words = {i18n._(word): word for word in activations.TEXT_WORDS}
        for name in activations.names():
            entry = activations.get(name)
            for latex in (entry.latex, entry.derivative_latex):
                shown = activations.shown_latex(latex)
                for translated, word in words.items():
                    shown = shown.replace(rf"\text{{{translated}}}", rf"\text{{{word}}}")
                assert shown == latex
    with i18n.using("zh"):
        slope = activations.shown_latex(activations.get("hard_sigmoid").derivative_latex)
    assert r"\text{其他情况}" in slope and "otherwise" not in slope
