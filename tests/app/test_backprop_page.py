"""The Forward & backward page: presets render, Next/Back walk the graph, updates lower the loss.

Every formula the page shows is evaluated with the project's LaTeX-to-NumPy translator and
must equal the number written beside it.
"""

import pytest

from dlcore import backprop, i18n
from dlcore.readable import number
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text
from tests.test_backprop import shown_sides
from ui.backprop_graph import current_node, step_count

PAGE = "pages/backprop.py"


def shown_latex(at) -> list[str]:
    return [e.value.strip().removeprefix("$$").removesuffix("$$").strip() for e in at.latex]


def graph_dot(at) -> str:
    return at.get("graphviz_chart")[0].proto.spec


# The neuron's formulas write 6 significant digits (its loss: squared misses to 3); the
# network's write 8, as the walk-through the learner checks against.
NEURON_TOLERANCE = {
    "z =": {"rel": 1e-5},
    "a =": {"rel": 1e-5},
    "(y ": {"rel": 1e-5, "abs": 1e-6},  # a small miss from two rounded numbers
    "L =": {"abs": 1e-3},
}


def assert_every_formula_computes(at) -> None:
    """All sides of every shown formula agree with each other to the digits written."""
    for latex in shown_latex(at):
        sides = shown_sides(latex)
        tolerance = NEURON_TOLERANCE.get(latex[:3], {"rel": 1e-6, "abs": 1e-8})
        assert len(sides) >= 1
        for side in sides[1:]:
            assert side == pytest.approx(sides[0], **tolerance), latex


def step_label(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Step "))


def open_page(preset: str = "mazur"):
    at = page_test(PAGE, timeout=180).run()
    assert not at.exception, [e.value for e in at.exception]
    if preset != "mazur":
        at.selectbox(key="bp_preset").set_value(preset).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("preset", backprop.presets())
def test_each_preset_renders_its_graph_checks_and_code(preset):
    at = open_page(preset)
    network = backprop.preset(preset)
    dot = graph_dot(at)
    for name in network.weights:
        assert f"{name} = " in dot or f"<b>{name}</b>" in dot, name
    assert "value ?" in dot  # nothing computed before the first Next
    assert not at.error
    checks = at.dataframe[0].value  # the checks table, first on the page
    assert list(checks["parameter"].str.split(" ").str[0]) == list(network.weights)
    summary = next(m.value for m in at.markdown if m.value.startswith("Largest difference"))
    assert "×10⁻" in summary  # a power of ten far below 1
    assert backprop.keras_code(network).strip() in [c.value.strip() for c in at.code]
    assert_every_formula_computes(at)


def test_next_and_back_walk_the_whole_graph_with_the_chain_rule_written_out():
    at = open_page("mazur")
    sample = backprop.preset("mazur").forward().samples[0]
    last = step_count(sample)
    assert step_label(at) == f"**Step 0 of {last}**"
    seen = []
    for step in range(1, last + 1):
        at.button(key="bp_next").click().run()
        assert not at.exception
        assert step_label(at) == f"**Step {step} of {last}**"
        direction, node = current_node(sample, step)
        seen.append(node)
        latex = shown_latex(at)
        if direction == "forward":
            assert sample.forward[step - 1].latex in latex
        else:
            explained = sample.backward[step - len(sample.forward) - 1]
            assert (explained.local or explained.numbers_latex) in latex
            if len(explained.terms) > 1 or len(explained.terms[0]) > 1:
                assert explained.numbers_latex in latex
        assert_every_formula_computes(at)
    assert at.button(key="bp_next").disabled
    assert seen == [s.node for s in sample.forward] + [s.node for s in sample.backward]
    assert "grad 0.082167" in graph_dot(at) and "value ?" not in graph_dot(at)
    for step in range(last - 1, -1, -1):
        at.button(key="bp_back").click().run()
        assert step_label(at) == f"**Step {step} of {last}**"
    assert at.button(key="bp_back").disabled


def test_the_issues_worked_product_appears_at_w5():
    at = open_page("mazur")
    at.button(key="bp_end").click().run()
    assert step_label(at) == "**Step 27 of 27**"
    sample = backprop.preset("mazur").forward().samples[0]
    at.session_state["bp_step"] = len(sample.forward) + 5  # out_o1, net_o1, out_o2, net_o2, w5
    at.run()
    assert (
        r"\frac{\partial E}{\partial w_{5}} = 0.74136507 \times 0.1868156 \times 0.59326999"
        " = 0.082167041"
    ) in shown_latex(at)


def test_apply_update_changes_the_weights_and_lowers_the_loss():
    at = open_page("mazur")
    at.button(key="bp_apply").click().run()
    assert not at.exception
    assert at.session_state["bp_mazur_w5"] == pytest.approx(0.358916480, abs=1e-9)
    assert at.session_state["bp_mazur_b1"] == 0.35  # fixed, as in the walk-through
    line = next(m.value for m in at.markdown if m.value.startswith("Loss E:"))
    assert "**0.298371109 → 0.291027774**" in line and "went down" in line
    assert any("0.291027924" in c.value for c in at.caption)
    # The graph and the edit box now hold the updated network.
    assert "w5 = 0.35892" in graph_dot(at)
    at.button(key="bp_apply").click().run()
    second = next(m.value for m in at.markdown if m.value.startswith("Loss E:"))
    assert "**0.291027774 → " in second and "went down" in second


def test_a_huge_learning_rate_is_explained_not_crashed():
    at = open_page("houses")
    at.number_input(key="bp_houses_lr").set_value(100.0).run()
    at.button(key="bp_apply").click().run()
    assert not at.exception
    assert "overshoots" in at.warning[0].value
    assert at.session_state["bp_houses_w1"] == 0.8  # refused: the weights stay
    at.button(key="bp_train").click().run()
    assert not at.exception
    message = at.error[0].value
    assert message.startswith("Diverged") and "NaN" in message and "float64" in message


def test_training_lowers_the_loss_and_can_continue_from_the_result():
    at = open_page("xor")
    at.slider(key="bp_train_steps").set_value(200).run()
    at.button(key="bp_train").click().run()
    assert not at.exception
    run = backprop.preset("xor").train(5.0, 200)
    assert at.success[0].value == (
        f"The loss went from {number(run.losses[0], 6)} to {number(run.losses[-1], 6)} "
        "in 200 steps."
    )
    at.button(key="bp_keep").click().run()
    assert at.session_state["bp_xor_w1"] == pytest.approx(run.network.weights["w1"], rel=1e-12)
    # Longer training pushes XOR's weights past the edit boxes' range: said, not offered.
    at.slider(key="bp_train_steps").set_value(2000).run()
    at.button(key="bp_train").click().run()
    assert not at.exception
    assert any("beyond ±10" in c.value for c in at.caption)


def test_the_neuron_follows_the_sliders():
    at = open_page("mazur")
    at.slider(key="bp_neuron_w").set_value(1.2).run()
    at.slider(key="bp_neuron_b").set_value(-0.7).run()
    assert not at.exception
    fit = backprop.neuron_fit(1.2, -0.7)
    assert fit.loss_latex in shown_latex(at)
    assert at.metric[0].value == number(fit.loss, 4)
    assert_every_formula_computes(at)


def test_the_tape_check_runs_once_per_network_not_on_every_step(monkeypatch):
    calls = []
    original = backprop.Network.tape_gradients

    def counted(network):
        calls.append(network.weights)
        return original(network)

    monkeypatch.setattr(backprop.Network, "tape_gradients", counted)
    at = open_page("mazur")
    calls.clear()  # the preset's own check, if no earlier test remembered it
    at.number_input(key="bp_mazur_w5").set_value(0.123457).run()  # a network no test built
    assert len(calls) == 1 and calls[0]["w5"] == 0.123457
    for _ in range(3):
        at.button(key="bp_next").click().run()
    at.slider(key="bp_neuron_w").set_value(2.0).run()
    assert len(calls) == 1


def open_page_in(language: str, preset: str = "mazur"):
    at = page_test(PAGE, timeout=180)
    at.session_state["language"] = language
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if preset != "mazur":
        at.selectbox(key="bp_preset").set_value(preset).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def reading(request):
    """AppTest formats a selectbox's chosen option (format_func) in the test's own thread, on
    every run: the test reads in the page's language too (the page's thread reads the session's).
    """

    def use(language: str):
        block = i18n.using(language)
        block.__enter__()
        request.addfinalizer(lambda: block.__exit__(None, None, None))

    return use


def assert_reads_in(at, language: str) -> None:
    share = chinese_share(visible_text(at))
    if language == "zh":
        assert share > 0.8, visible_text(at)
    else:
        assert share == 0, visible_text(at)


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("preset", backprop.presets())
def test_every_tab_reads_in_the_learners_language(preset, language, reading):
    """All four tabs render at once: the neuron, the network with its checks, Learn and the
    tutorial's pseudocode, whose table and comments follow the language too."""
    reading(language)
    at = open_page_in(language, preset)
    assert_reads_in(at, language)
    assert [t.label for t in at.tabs][0] == (
        "1 · 一个神经元" if language == "zh" else "1 · One neuron"
    )
    checks = at.dataframe[0].value
    parameter = "参数" if language == "zh" else "parameter"
    assert list(checks[parameter].str.split(r"[ （]", regex=True).str[0]) == list(
        backprop.preset(preset).weights
    )
    pseudocode = next(c.value for c in at.code if "data_loader" in c.value)
    assert ("# 前向传播" in pseudocode) == (language == "zh")
    mapping = at.dataframe[-1].value
    assert list(mapping.columns)[0] == (
        "伪代码（§3.3）" if language == "zh" else "pseudocode (§3.3)"
    )
    assert_every_formula_computes(at)


def test_stepping_updating_and_training_read_in_chinese(reading):
    reading("zh")
    at = open_page_in("zh", "xor")
    at.button(key="bp_end").click().run()  # the last backward step, a sum over samples
    assert not at.exception
    assert step_label_in(at, "zh").startswith("**第 ")
    assert_reads_in(at, "zh")
    assert "梯度 " in graph_dot(at) and "grad " not in graph_dot(at)
    at.button(key="bp_apply").click().run()
    assert any("损失 E：" in m.value for m in at.markdown)
    at.slider(key="bp_train_steps").set_value(200).run()
    at.button(key="bp_train").click().run()
    assert not at.exception
    assert at.success[0].value.endswith("。")
    figure = at.get("plotly_chart")[-1].proto.spec
    assert "损失 E（对数刻度）" in figure
    assert_reads_in(at, "zh")
    at.number_input(key="bp_xor_lr").set_value(100.0).run()
    at.slider(key="bp_train_steps").set_value(2000).run()
    at.button(key="bp_train").click().run()
    assert not at.exception
    assert_reads_in(at, "zh")


def step_label_in(at, language: str) -> str:
    prefix = "**第 " if language == "zh" else "**Step "
    return next(m.value for m in at.markdown if m.value.startswith(prefix))
