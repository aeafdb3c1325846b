"""The Optimizers page: controls change the race, formulas are shown, blow-ups are explained."""

import json

import plotly.graph_objects as go

from tests.app.conftest import page_test

TUTORIAL_GD = r"w_{t+1} = w_t - \alpha \nabla_w J(w_t)"
TUTORIAL_ADAM_STEP = r"w_{t+1} = w_t - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}"


def end_table(at):
    """The end-point table (the page's first table) as {optimizer label: row}."""
    frame = at.dataframe[0].value
    assert "status" in frame.columns
    return {row["optimizer"]: row for row in frame.to_dict("records")}


def test_page_races_and_a_learning_rate_change_moves_only_that_optimizer():
    at = page_test("pages/optimizers.py").run()
    assert not at.exception
    before = end_table(at)
    assert len(before) == 5 and all(row["status"] == "finished" for row in before.values())
    latex = [element.value.strip("$\n") for element in at.latex]
    assert TUTORIAL_GD in latex and TUTORIAL_ADAM_STEP in latex
    assert at.subheader[0].value == "Inside Adam" and at.dataframe[1].value.shape[0] == 200

    at.select_slider(key="opt_adam_learning_rate").set_value(0.5).run()
    assert not at.exception
    after = end_table(at)
    assert after["Adam"]["final loss"] != before["Adam"]["final loss"]
    assert after["Nadam"] == before["Nadam"]


def test_too_high_a_learning_rate_is_reported_as_divergence():
    at = page_test("pages/optimizers.py").run()
    at.selectbox(key="opt_surface").set_value("rosenbrock").run()
    at.select_slider(key="opt_sgd_learning_rate").set_value(1.0).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(
        w.startswith("Gradient descent (SGD) diverged at step") and "learning rate too high?" in w
        for w in warnings
    )
    assert end_table(at)["Gradient descent (SGD)"]["status"].startswith("diverged at step")


def test_saddle_says_there_is_no_minimum_and_empty_selection_asks_for_one():
    at = page_test("pages/optimizers.py").run()
    at.selectbox(key="opt_surface").set_value("saddle").run()
    assert not at.exception
    rows = end_table(at).values()
    assert all(row["distance to minimum"] == "no minimum" for row in rows)

    at.multiselect(key="opt_chosen").set_value([]).run()
    assert not at.exception
    assert "at least one optimizer" in at.info[0].value


def test_start_sliders_follow_the_surface_and_move_the_race():
    at = page_test("pages/optimizers.py").run()
    at.selectbox(key="opt_surface").set_value("himmelblau").run()
    first = end_table(at)
    assert at.slider(key="opt_x_himmelblau").value == -0.3
    at.slider(key="opt_x_himmelblau").set_value(4.0).run()
    assert not at.exception
    assert end_table(at)["Adam"]["final loss"] != first["Adam"]["final loss"]


def test_charts_are_valid_plotly_figures_and_the_race_animates_to_the_end():
    at = page_test("pages/optimizers.py").run()
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(charts) == 3  # race, loss per step, inside Adam
    for spec in charts:
        # The page skips Plotly's validation on every rerun (ui/plain_figure.py):
        # here Plotly validates each spec once and raises on anything it does not know.
        assert len(go.Figure(spec).data) == len(spec["data"])
    race = charts[0]
    assert race["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert race["layout"]["sliders"][0]["steps"][-1]["label"] == "200"
    assert 40 <= len(race["frames"]) <= 51 and race["frames"][-1]["name"] == "200"
    paths = {trace["name"]: trace for trace in race["data"] if trace.get("mode") == "lines"}
    balls = race["frames"][-1]["data"][0]
    ends = [(path["x"][-1], path["y"][-1]) for path in paths.values()]
    assert list(zip(balls["x"], balls["y"], strict=True)) == ends
