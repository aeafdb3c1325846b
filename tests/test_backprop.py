"""dlcore.backprop against the walk-through's numbers, TensorFlow's tape and finite differences.

The 2-2-2 numbers are those of Mazur's "A Step by Step Backpropagation Example", recomputed
in float64 without rounding intermediate values (so E after one step is 0.291027774, not the
post's 0.291027924).
"""

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlcore import backprop, i18n
from dlcore.errors import DlcoreError, InvalidNetwork
from tests.support.latex import latex_sides

TOLERANCE = 1e-9


def shown_sides(latex: str) -> list[float]:
    """Every side after the first "=" of a numeric formula, evaluated."""
    return [float(side({})) for side in latex_sides(latex)]


def assert_formula_computes(latex: str, value: float, digits: int = 8) -> None:
    """Each side equals `value` to the significant digits the lesson shows (8 in the network,
    6 for the neuron: each number is rounded, so a product of three may be off by a few units
    of the last digit)."""
    for side in shown_sides(latex):
        assert side == pytest.approx(value, rel=10 ** (2 - digits), abs=10**-digits), latex


def test_mazur_numbers_match_the_walk_through():
    net = backprop.preset("mazur")
    assert net.weights == {
        "w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "w5": 0.40, "w6": 0.45,
        "w7": 0.50, "w8": 0.55, "b1": 0.35, "b2": 0.60,
    }  # fmt: skip
    trace = net.forward()
    values = trace.samples[0].values()
    assert values["out_h1"] == pytest.approx(0.593269992, abs=TOLERANCE)
    assert values["out_o1"] == pytest.approx(0.751365070, abs=TOLERANCE)
    assert values["out_o2"] == pytest.approx(0.772928465, abs=TOLERANCE)
    assert trace.loss == pytest.approx(0.298371109, abs=TOLERANCE)
    grads = net.backward(trace)
    assert grads["w5"] == pytest.approx(0.082167041, abs=TOLERANCE)
    assert grads["w1"] == pytest.approx(0.000438568, abs=TOLERANCE)
    after = net.step(learning_rate=0.5)
    assert after.weights["w5"] == pytest.approx(0.358916480, abs=TOLERANCE)
    assert after.weights["w1"] == pytest.approx(0.149780716, abs=TOLERANCE)
    assert after.forward().loss == pytest.approx(0.291027774, abs=TOLERANCE)


def test_training_the_biases_too():
    net = backprop.preset("mazur", train_biases=True)
    grads = net.backward(net.forward())
    assert grads["b1"] == pytest.approx(0.018725609, abs=TOLERANCE)
    assert grads["b2"] == pytest.approx(0.100400325, abs=TOLERANCE)
    assert net.step(0.5).forward().loss == pytest.approx(0.285750887, abs=TOLERANCE)


def test_frozen_parameters_have_a_gradient_but_do_not_move():
    net = backprop.preset("mazur")
    assert net.frozen == {"b1", "b2"}
    grads = net.backward()
    assert grads["b1"] != 0 and grads["b2"] != 0
    after = net.step(0.5)
    assert (after.weights["b1"], after.weights["b2"]) == (0.35, 0.60)
    assert all(after.weights[n] != net.weights[n] for n in net.weights if n.startswith("w"))


@pytest.mark.parametrize("name", backprop.presets())
def test_chain_rule_tape_and_differences_agree_on_every_preset(name):
    assert {"mazur", "xor", "houses"} <= set(backprop.presets())
    net = backprop.preset(name)
    chain, tape, numeric = net.backward(), net.tape_gradients(), net.numeric_gradients()
    assert list(chain) == list(tape) == list(numeric) == list(net.weights)
    for key in chain:
        assert tape[key] == pytest.approx(chain[key], abs=TOLERANCE), key
        assert numeric[key] == pytest.approx(chain[key], abs=TOLERANCE), key
    checks = backprop.gradient_checks(net)
    assert [row.name for row in checks.rows] == list(chain)
    assert checks.largest_difference == max(
        max(abs(chain[k] - tape[k]), abs(chain[k] - numeric[k]), abs(tape[k] - numeric[k]))
        for k in chain
    )
    assert checks.largest_difference < TOLERANCE


def _relu_kinks_are_far(net) -> bool:
    """Finite differences are meaningless at a ReLU kink: keep every hidden net away from 0."""
    if net.activations[0] != "relu":
        return True
    values = [s.values() for s in net.forward().samples]
    return all(abs(v[k]) > 1e-3 for v in values for k in v if k.startswith("net_h"))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), name=st.sampled_from(backprop.presets()))
def test_chain_rule_tape_and_differences_agree_on_random_bounded_weights(data, name):
    net = backprop.preset(name)
    limit = backprop.WEIGHT_LIMIT
    values = {
        key: data.draw(st.floats(-limit, limit, allow_nan=False), label=key) for key in net.weights
    }
    net = net.with_weights(**values)
    assume(_relu_kinks_are_far(net))
    chain, tape, numeric = net.backward(), net.tape_gradients(), net.numeric_gradients()
    # Five-point differences round at about 1e-16 · E / h: relative to the loss's size.
    scale = max(1.0, net.forward().loss)
    for key in chain:
        assert tape[key] == pytest.approx(chain[key], abs=TOLERANCE * scale), key
        assert numeric[key] == pytest.approx(chain[key], abs=TOLERANCE * scale), key


@pytest.mark.parametrize("name", backprop.presets())
def test_each_chain_rule_product_is_the_gradient_it_explains(name):
    net = backprop.preset(name, train_biases=True)
    trace = net.forward()
    grads = net.backward(trace)
    for sample in trace.samples:
        for step in sample.backward:
            total = sum(math.prod(f.value for f in term) for term in step.terms)
            assert total == pytest.approx(step.value, rel=1e-12, abs=1e-15)
    for key, gradient in grads.items():
        shares = [s.gradients()[key] for s in trace.samples]
        assert sum(shares) == pytest.approx(gradient, rel=1e-12, abs=1e-15), key
    # Every backward step's node is one the forward pass computed or a parameter.
    nodes = set(trace.samples[0].values()) | set(net.weights)
    assert {s.node for s in trace.samples[0].backward} <= nodes


def test_a_node_that_feeds_two_paths_sums_them():
    step = {s.node: s for s in backprop.preset("mazur").forward().samples[0].backward}["out_h1"]
    assert len(step.terms) == 2
    assert step.chain_latex.count("+") == 1
    assert step.value == pytest.approx(0.036350306, abs=TOLERANCE)


def test_the_issues_worked_product_is_written_out():
    step = {s.node: s for s in backprop.preset("mazur").forward().samples[0].backward}["w5"]
    assert step.numbers_latex == (
        r"\frac{\partial E}{\partial w_{5}} = 0.74136507 \times 0.1868156 \times 0.59326999"
        " = 0.082167041"
    )
    assert step.chain_latex == (
        r"\frac{\partial E}{\partial w_{5}} = \frac{\partial E}{\partial out_{o1}} \cdot "
        r"\frac{\partial out_{o1}}{\partial net_{o1}} \cdot "
        r"\frac{\partial net_{o1}}{\partial w_{5}}"
    )


@pytest.mark.parametrize("name", backprop.presets())
def test_every_formula_computes_the_number_beside_it(name):
    for sample in backprop.preset(name).forward().samples:
        for step in sample.forward:
            assert_formula_computes(step.latex, step.value)
        for step in sample.backward:
            assert_formula_computes(step.numbers_latex, step.value)
            if step.local:
                local_value = step.terms[0][-1].value if len(step.terms[0]) > 1 else step.value
                assert_formula_computes(step.local, local_value)


def test_the_formula_check_catches_a_wrong_number():
    step = backprop.preset("mazur").forward().samples[0].forward[0]
    with pytest.raises(AssertionError):
        assert_formula_computes(step.latex.replace("0.15", "0.16"), step.value)


def test_neuron_formulas_compute_their_numbers_and_its_slopes_are_right():
    fit = backprop.neuron_fit(1.5, -0.5)
    x = np.array([p[0] for p in backprop.NEURON_POINTS])
    y = np.array([p[1] for p in backprop.NEURON_POINTS])
    a = 1 / (1 + np.exp(-(1.5 * x - 0.5)))
    assert fit.a == pytest.approx(a.tolist(), rel=1e-12)
    assert fit.loss == pytest.approx(np.mean((y - a) ** 2), rel=1e-12)
    for k in range(len(x)):
        assert_formula_computes(fit.z_latex[k], fit.z[k], digits=6)
        assert_formula_computes(fit.a_latex[k], fit.a[k], digits=6)
        assert_formula_computes(fit.miss_latex[k], (y[k] - a[k]) ** 2, digits=6)
    for side in shown_sides(fit.loss_latex):
        # The six squared misses are written to 3 digits each.
        assert side == pytest.approx(fit.loss, abs=1e-3)
    path = backprop.neuron_descent(1.5, -0.5, learning_rate=1e-3, steps=1)
    h = 1e-6
    slope_w = (
        backprop.neuron_fit(1.5 + h, -0.5).loss - backprop.neuron_fit(1.5 - h, -0.5).loss
    ) / (2 * h)
    assert (1.5 - path.w[1]) / 1e-3 == pytest.approx(slope_w, rel=1e-6)


def test_gradient_descent_from_a_bad_guess_finds_the_valley():
    path = backprop.neuron_descent(-3.0, 3.0, learning_rate=5.0, steps=400)
    assert path.loss[-1] < path.loss[0] / 100
    surface = backprop.neuron_surface(81)
    grid = np.array(surface.loss)
    assert path.loss[-1] <= grid.min() + 1e-3
    assert len(path.w) == len(path.b) == len(path.loss) == 401


@pytest.mark.parametrize("name", backprop.presets())
def test_one_small_step_lowers_the_loss(name):
    net = backprop.preset(name)
    assert net.step(0.01).forward().loss < net.forward().loss
    run = net.train(net.learning_rate, 200)
    assert run.outcome == "lowered" and run.losses[-1] < run.losses[0]
    assert run.losses[1] == pytest.approx(net.step().forward().loss, rel=1e-12)


def test_divergence_is_reported_not_raised():
    run = backprop.preset("houses").train(100.0, 500)
    assert run.outcome == "overflow"
    assert 1 < run.stopped_at < 500
    assert len(run.losses) == run.stopped_at
    assert all(math.isfinite(v) for v in run.losses)
    assert all(math.isfinite(v) for v in run.network.weights.values())
    rose = backprop.preset("xor").train(100.0, 500)
    assert rose.outcome == "rose" and rose.losses[-1] > rose.losses[0]
    # A single huge step is returned as it is: the page shows it and explains it.
    after = backprop.preset("houses").step(100.0).step(100.0).step(100.0)
    assert after.forward().loss > 1e6


@pytest.mark.parametrize(
    "change",
    [
        lambda n: n.with_weights(w1=10.5),
        lambda n: n.with_weights(w1=float("nan")),
        lambda n: n.with_weights(w99=0.1),
        lambda n: n.with_sample(0, [0.05, 11.0], [0.01, 0.99]),
        lambda n: n.with_sample(0, [0.05], [0.01, 0.99]),
        lambda n: n.step(0.0),
        lambda n: n.train(101.0, 10),
        lambda n: n.train(0.5, 0),
        lambda n: backprop.neuron_fit(4.5, 0.0),
        lambda n: backprop.neuron_descent(0.0, 0.0, 0.5, 5001),
    ],
)
def test_out_of_bound_inputs_raise_a_typed_error(change):
    with pytest.raises(InvalidNetwork) as error:
        change(backprop.preset("mazur"))
    assert isinstance(error.value, DlcoreError)
    assert str(error.value).endswith(".")


def test_a_refused_value_reads_in_each_readers_language():
    with pytest.raises(InvalidNetwork) as error:
        backprop.preset("mazur").with_weights(w1=12.0)
    assert str(error.value) == "Parameter w1 must be a number from −10 to 10."
    with i18n.using("zh"):
        assert str(error.value) == "参数 w1 必须是 −10 到 10 之间的数。"
        with pytest.raises(InvalidNetwork) as steps:
            backprop.neuron_descent(0.0, 0.0, 0.5, 5001)
        assert str(steps.value) == "步数必须在 1 到 5000 之间。"


def test_an_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="mazur, xor, houses"):
        backprop.preset("lenet")


def test_editing_a_sample_changes_the_forward_pass():
    net = backprop.preset("mazur").with_sample(0, [0.1, 0.2], [0.5, 0.5])
    assert net.inputs == ((0.1, 0.2),)
    assert net.forward().samples[0].values()["net_h1"] == pytest.approx(
        0.15 * 0.1 + 0.2 * 0.2 + 0.35
    )


@pytest.mark.parametrize("name", backprop.presets())
def test_the_keras_code_computes_the_same_numbers(name, capsys):
    net = backprop.preset(name)
    namespace: dict = {}
    exec(backprop.keras_code(net), namespace)
    assert float(namespace["loss"]) == pytest.approx(net.forward().loss, abs=1e-12)
    kernel = namespace["gradients"][2].numpy()  # [h_j, o_k]: the second layer's weights
    grads = net.backward()
    outputs, hidden = net.sizes[2], net.sizes[1]
    first = net.sizes[0] * hidden
    for k in range(outputs):
        for j in range(hidden):
            assert kernel[j, k] == pytest.approx(grads[f"w{first + k * hidden + j + 1}"], abs=1e-12)
    after = float(capsys.readouterr().out.split("after:")[1])
    assert after == pytest.approx(net.step().forward().loss, abs=1e-12)


def test_stepping_through_the_lesson_never_imports_tensorflow():
    """The page's stepping path (forward, backward, a step) must not wait for TensorFlow."""
    probe = (
        "import sys\nfrom dlcore import backprop\n"
        "net = backprop.preset('xor')\nnet.backward(net.forward())\nnet.step().train(1.0, 5)\n"
        "backprop.neuron_descent(0.0, 0.0, 1.0, 5)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
