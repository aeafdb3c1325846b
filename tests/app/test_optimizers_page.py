"""The Optimizers page: controls change the race, formulas are shown, blow-ups are explained."""

import itertools
import json

import numpy as np
import plotly.graph_objects as go

from dlcore import i18n, readable
from dlcore import optimizers as opt
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text
from ui.plain_figure import READABLE_AXIS

TUTORIAL_GD = r"w_{t+1} = w_t - \alpha \nabla_w J(w_t)"
TUTORIAL_ADAM_STEP = r"w_{t+1} = w_t - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}"


# Colour-vision-deficiency simulation matrices on linear RGB (Machado, Oliveira and Fernandes,
# 2009, severity 1), and the identity for normal vision.
SIMULATED_VISION = {
    "normal": np.eye(3),
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip
SRGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
# CIE76 colour difference: about 2 is just noticeable side by side; 15 tells two thin lines
# apart at a glance (the old palette's SGD and RMSprop were 2 apart for a protanope).
DISTINCT = 15


def lab(hex_color: str, vision: str) -> np.ndarray:
    """CIELAB coordinates of an sRGB colour as seen with the simulated vision."""
    srgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    seen = np.clip(np.asarray(SIMULATED_VISION[vision]) @ linear, 0, 1)
    xyz = SRGB_TO_XYZ @ seen / D65_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def colour_difference(a: str, b: str) -> float:
    """The smallest CIE76 difference between two colours over every simulated vision."""
    return min(float(np.linalg.norm(lab(a, v) - lab(b, v))) for v in SIMULATED_VISION)


def charts(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def line_styles(spec: dict) -> dict:
    """{optimizer label: its colour and dash} for the named lines of a chart."""
    lines = [t for t in spec["data"] if t.get("mode", "lines") == "lines"]
    return {t["name"]: {"color": t["line"]["color"], "dash": t["line"]["dash"]} for t in lines}


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
    assert at.subheader[0].value == "Inside Adam" and at.table[0].value.shape[0] == 200

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


def test_each_optimizer_keeps_one_line_style_told_apart_with_colour_blindness():
    at = page_test("pages/optimizers.py").run()
    at.multiselect(key="opt_chosen").set_value(opt.names()).run()
    assert not at.exception
    race, loss, _ = charts(at)
    styles = line_styles(race)
    assert len(styles) == len(opt.names()) == 9
    assert line_styles(loss) == styles
    for (a, style_a), (b, style_b) in itertools.combinations(styles.items(), 2):
        if style_a["dash"] == style_b["dash"]:  # same dash: the colour alone tells them apart
            assert colour_difference(style_a["color"], style_b["color"]) >= DISTINCT, (a, b)
    # The pair the issue named, SGD + momentum and Adam, are far apart for every vision.
    assert colour_difference(styles["SGD + momentum"]["color"], styles["Adam"]["color"]) > 40


def test_the_old_palette_fails_the_colour_blindness_check():
    """The check above can fail: the palette before issue 12 had two solid lines (SGD and
    RMSprop) that a protanope sees as nearly the same colour."""
    assert colour_difference("#636efa", "#ab63fa") < DISTINCT


def test_every_axis_writes_powers_of_ten_not_si_prefixes():
    at = page_test("pages/optimizers.py").run()
    at.selectbox(key="opt_surface").set_value("saddle").run()
    for spec in charts(at):
        axes = [name for name in spec["layout"] if name.startswith(("xaxis", "yaxis"))]
        assert axes
        for name in axes:
            assert READABLE_AXIS.items() <= spec["layout"][name].items(), name


def test_inside_adam_shows_one_coordinate_in_readable_numbers():
    at = page_test("pages/optimizers.py").run()
    at.selectbox(key="opt_surface").set_value("saddle").run()
    assert not at.exception
    found = opt.explore(
        opt.get_surface("saddle"),
        {"adam": {}},
        opt.get_surface("saddle").default_start,
        200,
        1e-3,
    ).adam
    for column, axis in enumerate("xy"):
        at.radio(key="opt_adam_axis").set_value(axis).run()
        table = at.table[0].value
        assert list(table.columns) == ["g", "m", "v", "m̂", "v̂", "α/(√v̂+ε̂)", "step"]
        assert table.index.name == "t" and table.shape[0] == 200
        assert table["v"].iloc[1] == readable.number(found.v[1, column])
        assert table["step"].iloc[-1] == readable.number(found.update[-1, column])
    # The number the issue saw cut to "000148" (0.0000148, v of y at step 2), now whole.
    assert table["v"].iloc[1] == "1.48×10⁻⁵"
    assert table["g"].iloc[0] == readable.number(found.gradient[0, 1]) == "−0.02"


def test_the_end_table_and_the_tolerance_read_as_a_learner_reads_them():
    at = page_test("pages/optimizers.py").run()
    at.selectbox(key="opt_surface").set_value("saddle").run()
    at.select_slider(key="opt_tol").set_value(1e-6).run()
    assert not at.exception
    assert any("loss within 1×10⁻⁶ of the minimum" in m.value for m in at.markdown)
    rows = end_table(at)
    assert rows["SGD + momentum"]["final loss"].startswith("−")  # a true minus, not a hyphen
    assert all("e" not in row["final loss"] for row in rows.values())
    assert at.select_slider(key="opt_adam_epsilon").options[:2] == ["1×10⁻¹⁰", "1×10⁻⁹"]
    notes = " ".join(m.value for m in at.markdown)
    assert "|J| > 1×10¹² or |w| > 1×10⁶" in notes


def test_the_page_reads_in_chinese_down_to_its_charts_and_table():
    at = page_test("pages/optimizers.py")
    at.session_state["language"] = "zh"
    at.run()
    assert not at.exception
    assert chinese_share(visible_text(at)) > 0.8
    race, loss, adam = charts(at)
    assert loss["layout"]["title"]["text"] == "每一步的损失"
    assert adam["layout"]["title"]["text"] == "每个坐标的步长"
    assert [b["label"] for b in race["layout"]["updatemenus"][0]["buttons"]] == [
        "▶ 播放",
        "❚❚ 暂停",
    ]
    assert "梯度下降（SGD）" in line_styles(race)
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["优化器", "最终损失", "到最小值的距离", "到达所需步数", "状态"]
    assert set(frame["状态"]) == {"已完成"}
    assert list(at.table[0].value.columns)[-1] == "步"
    notes = " ".join(m.value for m in at.markdown)
    assert "|J| > 1×10¹² 或 |w| > 1×10⁶" in notes and r"$\sqrt{v_t}$" in notes


def test_a_divergence_and_the_saddle_read_in_chinese():
    at = page_test("pages/optimizers.py")
    at.session_state["language"] = "zh"
    at.run()
    # The test's side formats a chosen option with the page's format_func: in Chinese too.
    with i18n.using("zh"):
        at.selectbox(key="opt_surface").set_value("rosenbrock").run()
        at.select_slider(key="opt_sgd_learning_rate").set_value(1.0).run()
    assert not at.exception
    assert any(w.value.startswith("梯度下降（SGD） 在第") for w in at.warning)
    with i18n.using("zh"):
        at.selectbox(key="opt_surface").set_value("saddle").run()
    assert not at.exception
    assert set(at.dataframe[0].value["到最小值的距离"]) == {"没有最小值"}
    assert chinese_share(visible_text(at)) > 0.8


def test_the_page_in_english_has_no_chinese():
    at = page_test("pages/optimizers.py").run()
    assert not at.exception
    assert chinese_share(visible_text(at)) == 0
