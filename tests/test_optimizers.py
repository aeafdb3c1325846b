"""dlcore.optimizers: real Keras steps equal the update rules shown, surfaces are right."""

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dlcore import optimizers as opt

# The tutorial's formulas (§4.1.2), which the page must show character for character.
TUTORIAL_GD = r"w_{t+1} = w_t - \alpha \nabla_w J(w_t)"
TUTORIAL_ADAM = (
    r"m_t = \beta_1 m_{t-1} + (1 - \beta_1) \nabla_w J(w_t)",
    r"v_t = \beta_2 v_{t-1} + (1 - \beta_2) (\nabla_w J(w_t))^2",
    r"\hat{m}_t = \frac{m_t}{1 - \beta_1^t}",
    r"\hat{v}_t = \frac{v_t}{1 - \beta_2^t}",
    r"w_{t+1} = w_t - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}",
)
START = (-1.2, 1.4)


def rosenbrock_gradient(w):
    """∇ of (1 - x)^2 + 100 (y - x^2)^2, written out by hand (independent of TensorFlow)."""
    x, y = w
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def by_hand(rule, settings, steps, start=START):
    """Apply a rule's NumPy transcription from ``start``; returns the points w_0..w_steps."""
    w, state, points = np.array(start, dtype=np.float64), {}, [np.array(start)]
    for t in range(1, steps + 1):
        w, state = rule.reference(w, rosenbrock_gradient(w), state, settings, t)
        points.append(w)
    return np.array(points)


def keras_path(name, kwargs, steps):
    return opt.race("rosenbrock", {name: kwargs}, start=START, steps=steps)[name]


def test_one_sgd_step_is_the_tutorial_gradient_descent_rule():
    (rule,) = opt.get("sgd").rules
    assert rule.latex == (TUTORIAL_GD,)
    settings = opt.resolve_settings("sgd", {"learning_rate": 0.001})
    keras_result = keras_path("sgd", settings, 1)
    w0 = np.array(START)
    # w1 = w0 - α ∇J(w0), spelled out once more beside the registry's transcription.
    expected = w0 - settings["learning_rate"] * rosenbrock_gradient(w0)
    np.testing.assert_allclose(keras_result.path[1], expected, rtol=1e-13)
    np.testing.assert_allclose(keras_result.path, by_hand(rule, settings, 1), rtol=1e-13)


def test_one_momentum_step_matches_the_rule_shown():
    settings = opt.resolve_settings("momentum", {"learning_rate": 0.002, "momentum": 0.8})
    keras_result = keras_path("momentum", settings, 1)
    (rule,) = opt.get("momentum").rules
    np.testing.assert_allclose(keras_result.path, by_hand(rule, settings, 1), rtol=1e-13)
    # Keras' own slot holds v_1 = -α g_0.
    v1 = -settings["learning_rate"] * rosenbrock_gradient(np.array(START))
    np.testing.assert_allclose(keras_result.slots["momentum"][0], v1, rtol=1e-13)


def test_first_three_adam_steps_match_the_tutorial_and_the_keras_form():
    settings = opt.resolve_settings("adam", {"learning_rate": 0.05, "beta_1": 0.8})
    keras_result = keras_path("adam", settings, 3)
    tutorial, keras_form = opt.get("adam").rules
    assert tutorial.latex == TUTORIAL_ADAM and not tutorial.exact
    # Keras computes its own form to the last bits ...
    np.testing.assert_allclose(keras_result.path, by_hand(keras_form, settings, 3), rtol=1e-13)
    # ... and the tutorial's form to within the tiny default ε's effect.
    np.testing.assert_allclose(keras_result.path, by_hand(tutorial, settings, 3), rtol=1e-6)
    m, v = 0.0, 0.0
    for t in range(1, 4):
        g = rosenbrock_gradient(keras_result.path[t - 1])
        m = settings["beta_1"] * m + (1 - settings["beta_1"]) * g
        v = settings["beta_2"] * v + (1 - settings["beta_2"]) * g**2
        np.testing.assert_allclose(keras_result.slots["momentum"][t - 1], m, rtol=1e-12)
        np.testing.assert_allclose(keras_result.slots["velocity"][t - 1], v, rtol=1e-12)


def test_with_a_large_epsilon_only_the_keras_form_of_adam_matches():
    settings = opt.resolve_settings("adam", {"learning_rate": 0.05, "epsilon": 0.5})
    keras_result = keras_path("adam", settings, 3)
    tutorial, keras_form = opt.get("adam").rules
    np.testing.assert_allclose(keras_result.path, by_hand(keras_form, settings, 3), rtol=1e-13)
    gap = np.abs(keras_result.path - by_hand(tutorial, settings, 3)).max()
    assert gap > 1e-3


# Non-default settings, so that a transcription ignoring a hyperparameter would fail.
NON_DEFAULT = {
    "sgd": {"learning_rate": 0.0015},
    "momentum": {"learning_rate": 0.001, "momentum": 0.7},
    "nesterov": {"learning_rate": 0.001, "momentum": 0.6},
    "rmsprop": {"learning_rate": 0.02, "rho": 0.8, "epsilon": 1e-3},
    "adagrad": {"learning_rate": 0.3, "epsilon": 1e-3},
    "adadelta": {"learning_rate": 0.7, "rho": 0.9, "epsilon": 1e-4},
    "adam": {"learning_rate": 0.03, "beta_1": 0.7, "beta_2": 0.99, "epsilon": 1e-4},
    "adamw": {"learning_rate": 0.03, "beta_2": 0.99, "weight_decay": 0.2},
    "nadam": {"learning_rate": 0.03, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4},
}


@pytest.mark.parametrize("name", opt.names())
def test_every_optimizer_follows_its_exact_rule_for_three_steps(name):
    settings = opt.resolve_settings(name, NON_DEFAULT[name])
    keras_result = keras_path(name, NON_DEFAULT[name], 3)
    exact = [rule for rule in opt.get(name).rules if rule.exact]
    assert exact, f"{name} shows no rule that Keras computes exactly"
    for rule in exact:
        np.testing.assert_allclose(keras_result.path, by_hand(rule, settings, 3), rtol=1e-12)
    expected_grads = [rosenbrock_gradient(w) for w in keras_result.path[:-1]]
    np.testing.assert_allclose(keras_result.gradients, expected_grads, rtol=1e-12)


def test_registry_covers_the_nine_keras_optimizers_and_shows_latex():
    assert set(opt.names()) == set(NON_DEFAULT)
    for name in opt.names():
        spec = opt.get(name)
        assert spec.hyperparameters[0].name == "learning_rate" and spec.hyperparameters[0].log
        assert all(line.strip() for rule in spec.rules for line in rule.latex)


# --- surfaces -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", opt.surfaces())
def test_surface_gradient_matches_central_differences(name):
    surface = opt.get_surface(name, condition=7.0)
    rng = np.random.default_rng(0)
    low, high = (
        np.array([surface.x_range[0], surface.y_range[0]]),
        np.array([surface.x_range[1], surface.y_range[1]]),
    )
    points = rng.uniform(low, high, size=(8, 2))
    h = 1e-6
    numeric = np.stack(
        [
            (surface.value(points + h * e) - surface.value(points - h * e)) / (2 * h)
            for e in np.eye(2)
        ],
        axis=-1,
    )
    np.testing.assert_allclose(surface.gradient(points), numeric, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in opt.surfaces() if n != "saddle"])
def test_every_stated_minimum_is_flat_and_has_the_stated_value(name):
    surface = opt.get_surface(name)
    assert surface.minima
    for point in surface.minima:
        assert abs(surface.value(point) - surface.min_value) < 1e-12
        assert np.linalg.norm(surface.gradient(point)) < 1e-9
        # A step away in any direction goes up: it really is a minimum.
        for direction in ((1e-3, 0), (0, 1e-3), (-1e-3, 0), (0, -1e-3)):
            assert surface.value(np.add(point, direction)) > surface.min_value


def test_the_saddle_says_it_has_no_minimum():
    saddle = opt.get_surface("saddle")
    assert not saddle.has_minimum and saddle.minima == ()
    assert np.linalg.norm(saddle.gradient((0.0, 0.0))) == 0.0
    assert saddle.value((0.0, 1.0)) < saddle.value((0.0, 0.0)) < saddle.value((1.0, 0.0))
    assert opt.distance_to_nearest_minimum(saddle, (1.0, 1.0)) is None
    result = opt.race(saddle, {"sgd": {}}, steps=20)["sgd"]
    assert opt.steps_to_tolerance(result, saddle, 1e-3) is None


def test_bowl_condition_number_stretches_the_valley():
    round_bowl, long_bowl = opt.get_surface("bowl", 1.0), opt.get_surface("bowl", 50.0)
    assert long_bowl.value((0.0, 1.0)) == 50 * round_bowl.value((0.0, 1.0))
    # The steep direction caps the learning rate (SGD needs α < 2/κ): 0.05 is fine on the
    # round bowl and blows up on the long one.
    settings = {"sgd": {"learning_rate": 0.05}}
    assert opt.race(round_bowl, settings, steps=100)["sgd"].diverged_at is None
    assert opt.race(long_bowl, settings, steps=100)["sgd"].diverged_at is not None
    with pytest.raises(ValueError, match="condition"):
        opt.get_surface("bowl", 0.5)


def test_contour_grid_covers_the_box_with_finite_levels():
    grid = opt.contour_grid("rosenbrock", resolution=30)
    surface = opt.get_surface("rosenbrock")
    assert grid.z.shape == (30, 30) and grid.x[0] == surface.x_range[0]
    assert grid.y[-1] == surface.y_range[1] and np.all(np.isfinite(grid.level))
    # Row i follows y[i], column j follows x[j].
    assert grid.z[3, 7] == pytest.approx(float(surface.value((grid.x[7], grid.y[3]))))
    saddle = opt.contour_grid("saddle", resolution=10)
    np.testing.assert_array_equal(saddle.level, saddle.z)


def test_contour_png_is_the_contour_image():
    from PIL import Image

    png = opt.contour_png(opt.get_surface("bowl", 100.0), resolution=40)
    with Image.open(io.BytesIO(png)) as picture:
        decoded = np.asarray(picture)
    expected = opt.contour_image(opt.contour_grid(opt.get_surface("bowl", 100.0), 40))
    np.testing.assert_array_equal(decoded, expected)


def test_contour_image_is_darkest_at_the_minimum_with_y_pointing_up():
    grid = opt.contour_grid("rosenbrock", resolution=101)
    brightness = opt.contour_image(grid).astype(int).sum(axis=-1)
    # Row 0 of the picture is the top of the plot (the largest y), so y = 1 sits at row
    # n - 1 - j where grid.y[j] = 1.
    row = len(grid.y) - 1 - int(np.argmin(np.abs(grid.y - 1.0)))
    col = int(np.argmin(np.abs(grid.x - 1.0)))
    assert brightness[row, col] <= 8 + 48 + 107  # the deepest blue (or a line drawn on it)
    assert brightness[0, 0] > 3 * brightness[row, col]  # (-2, 3): J = 109, up the wall
    assert brightness[-1, 0] > brightness[0, 0]  # (-2, -1): J = 2509, higher still


# --- race behaviour -------------------------------------------------------------------------


def test_a_diverging_run_is_reported_and_its_path_has_no_nan():
    result = opt.race("rosenbrock", {"sgd": {"learning_rate": 1.0}}, steps=50)["sgd"]
    assert result.diverged_at is not None and 0 < result.diverged_at <= 50
    assert len(result.path) == len(result.losses) == result.diverged_at
    assert np.all(np.isfinite(result.path)) and np.all(np.isfinite(result.losses))
    row = opt.end_points({"sgd": result}, "rosenbrock")[0]
    assert row.diverged_at == result.diverged_at and np.isfinite(row.final_loss)


def test_results_are_read_only_so_remembered_runs_cannot_be_corrupted():
    result = opt.race("bowl", {"sgd": {}}, steps=10)["sgd"]
    with pytest.raises(ValueError):
        result.path[0, 0] = 99.0
    assert opt.race("bowl", {"sgd": {}}, steps=10)["sgd"].path[0, 0] == -2.5


def test_a_converging_run_keeps_every_step():
    result = opt.race("bowl", {"adam": {"learning_rate": 0.1}}, steps=150)["adam"]
    assert result.diverged_at is None
    assert result.path.shape == (151, 2) and result.losses.shape == (151,)
    assert result.losses[-1] < 1e-3 * result.losses[0]


@pytest.mark.parametrize(
    ("surface", "settings", "bad", "valid"),
    [
        ("nowhere", {"sgd": {}}, "nowhere", "rosenbrock"),
        ("bowl", {"adamm": {}}, "adamm", "adam"),
        ("bowl", {"sgd": {"beta_1": 0.9}}, "beta_1", "learning_rate"),
    ],
)
def test_unknown_names_raise_value_error_naming_the_valid_ones(surface, settings, bad, valid):
    with pytest.raises(ValueError) as info:
        opt.race(surface, settings, steps=5)
    assert bad in str(info.value) and valid in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": (float("nan"), 0.0)},
        {"start": (1.0,)},
        {"steps": 0},
        {"steps": 2.5},
        {"settings": {"sgd": {"learning_rate": -1.0}}},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    args = {"surface": "bowl", "settings": {"sgd": {}}, "steps": 5, **kwargs}
    with pytest.raises(ValueError):
        opt.race(**args)


def test_reused_optimizers_start_fresh_every_race():
    # Nadam keeps a running product and Adagrad starts its sum at 0.1: both must be reset.
    settings = {"nadam": {"learning_rate": 0.05}, "adagrad": {"learning_rate": 0.2}}
    first = opt.race("himmelblau", settings, steps=40)
    opt.race("himmelblau", {"nadam": {"learning_rate": 0.3}, "adagrad": {}}, steps=70)
    # One step more, so that the same optimizer objects run again (not a remembered result).
    again = opt.race("himmelblau", settings, steps=41)
    for name in settings:
        np.testing.assert_array_equal(first[name].path, again[name].path[:41])


def test_concurrent_races_do_not_mix_up_their_paths():
    rates = [0.01, 0.02, 0.04, 0.08]
    alone = [opt.race("beale", {"adam": {"learning_rate": r}}, steps=60)["adam"] for r in rates]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(
            pool.map(
                lambda r: opt.race("beale", {"adam": {"learning_rate": r}}, steps=61)["adam"],
                rates,
            )
        )
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a.path, b.path[:61])


# --- reading a race -------------------------------------------------------------------------


def test_steps_to_tolerance_is_the_first_step_inside_the_tolerance():
    result = opt.race("bowl", {"momentum": {"learning_rate": 0.02}}, steps=200)["momentum"]
    k = opt.steps_to_tolerance(result, "bowl", 1e-2)
    assert k is not None and result.losses[k] <= 1e-2
    assert np.all(result.losses[:k] > 1e-2)
    assert opt.steps_to_tolerance(result, "bowl", 1e-300) is None


def test_distance_to_the_nearest_of_himmelblaus_minima():
    minimum = opt.get_surface("himmelblau").minima[2]
    point = (minimum[0] + 0.3, minimum[1] - 0.4)
    assert opt.distance_to_nearest_minimum("himmelblau", point) == pytest.approx(0.5)


def test_inside_adam_reads_keras_slots_and_explains_its_step():
    settings = {"learning_rate": 0.05, "beta_1": 0.85, "beta_2": 0.99, "epsilon": 1e-3}
    result = opt.race("rosenbrock", {"adam": settings}, start=START, steps=30)["adam"]
    trace = opt.inside_adam(result, settings)
    t, used = trace.t[:, None], opt.resolve_settings("adam", settings)
    assert used["beta_1"] == pytest.approx(0.85, rel=1e-7)  # Keras' float32 of 0.85
    np.testing.assert_allclose(trace.m_hat, trace.m / (1 - used["beta_1"] ** t), rtol=1e-13)
    np.testing.assert_allclose(trace.v_hat, trace.v / (1 - used["beta_2"] ** t), rtol=1e-13)
    # At step 1 the bias correction undoes the (1 - β) factor: m̂_1 = g_1 and v̂_1 = g_1².
    np.testing.assert_allclose(trace.m_hat[0], trace.gradient[0], rtol=1e-12)
    np.testing.assert_allclose(trace.v_hat[0], trace.gradient[0] ** 2, rtol=1e-12)
    # The step Keras really took equals the effective learning rate times m̂.
    np.testing.assert_allclose(trace.update, trace.effective_learning_rate * trace.m_hat, rtol=1e-9)
    assert trace.t[0] == 1 and len(trace.t) == 30
    with pytest.raises(ValueError, match="not an Adam run"):
        opt.inside_adam(opt.race("bowl", {"sgd": {}}, steps=3)["sgd"])


def test_explore_bundles_everything_the_page_needs():
    settings = {"sgd": {"learning_rate": 0.002}, "adam": {}, "rmsprop": {}}
    found = opt.explore("rosenbrock", settings, start=(-1.0, 2.5), steps=80, tolerance=0.1)
    assert list(found.results) == list(settings)
    assert [row.optimizer for row in found.table] == list(settings)
    assert found.adam is not None and len(found.adam.t) == 80
    assert found.start == (-1.0, 2.5)
    assert opt.explore("bowl", {"sgd": {}}, steps=5).adam is None


# --- building for the models ----------------------------------------------------------------


def test_build_fills_our_defaults_checks_settings_and_passes_the_rate_through():
    import keras

    momentum = opt.build("momentum", 0.01)
    assert type(momentum) is keras.optimizers.SGD and momentum.momentum == 0.9
    assert opt.build("nesterov", 0.01).nesterov is True
    assert opt.build("adam", 0.01, beta_1=0.8).beta_1 == 0.8
    schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=10)
    rate = opt.build("adamw", schedule).get_config()["learning_rate"]
    assert rate["class_name"] == "CosineDecay" and rate["config"]["decay_steps"] == 10
    with pytest.raises(ValueError, match=r"adam beta_1 must be a number in \[0, 0.999\]"):
        opt.build("adam", 0.01, beta_1=2.0)
    with pytest.raises(ValueError, match=r"'rho'.*adam.*learning_rate, beta_1"):
        opt.build("adam", 0.01, rho=0.9)
    with pytest.raises(ValueError, match=r"'lion'.*sgd"):
        opt.build("lion", 0.01)


def test_constructor_code_shows_what_differs_from_keras_defaults():
    assert opt.constructor_code("adam", "0.05") == "Adam(learning_rate=0.05)"
    assert opt.constructor_code("momentum", "lr") == "SGD(learning_rate=lr, momentum=0.9)"
    assert opt.constructor_code("nesterov", "lr") == (
        "SGD(learning_rate=lr, nesterov=True, momentum=0.9)"
    )


def test_notes_labels_and_refusals_read_in_the_learners_language():
    """Labels are marked for the catalogue and kept in English; notes and refusals are
    Messages, read in whichever language the reader has when they are turned into text."""
    from dlcore import i18n
    from dlcore.i18n import _

    note = opt.KERAS_NOTES[-1]
    with pytest.raises(ValueError) as refused:
        opt.explore("bowl", {"sgd": {}}, steps=3, tolerance=-1.0)
    with i18n.using("zh"):
        assert _(opt.get("sgd").label) == "梯度下降（SGD）"
        assert _(opt.get_surface("saddle").label) == "鞍面"
        assert str(note).startswith("一次运行在损失或位置第一次为 NaN/∞、|J| > 1×10¹²")
        assert str(refused.value) == "容差必须是正数，实际是 -1.0"
        assert "$\\sqrt{v_t}$" in str(opt.KERAS_NOTES[1])  # the formulas stay as they are
    assert opt.get("sgd").label == "Gradient descent (SGD)"
    assert str(refused.value) == "tolerance must be a positive number, got -1.0"
    assert "|J| > 1×10¹² or |w| > 1×10⁶" in str(note)
