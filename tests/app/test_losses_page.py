"""The Losses page: each view reacts to its controls and the worked example matches Keras."""

import json
import math
import re

import numpy as np
import pytest

from dlcore import i18n, losses, readable
from dlcore.i18n import _
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text


def shown_latex(at) -> list[str]:
    """The formulas on the page, without the $$ fences st.latex wraps them in."""
    return [
        element.value.strip().removeprefix("$$").removesuffix("$$").strip() for element in at.latex
    ]


def table_with(at, column: str):
    """The table holding ``column`` (AppTest's dataframes carry no key to select them by)."""
    return next(frame.value for frame in at.dataframe if column in frame.value)


def worked_table(at):
    return table_with(at, "this sample's term")


def rows(at, index: int, key: str) -> dict:
    return {row[key]: row for row in at.dataframe[index].value.to_dict("records")}


def test_moving_the_prediction_shows_mse_punishing_a_bigger_miss_more():
    at = page_test("pages/losses.py").run()
    assert not at.exception
    near = rows(at, 0, "loss")
    assert near["Mean squared error (MSE)"]["loss at ŷ"] == "4"  # y = 0, ŷ = 2: (0 − 2)²
    at.slider(key="loss_prediction").set_value(4.0).run()
    assert not at.exception
    far = rows(at, 0, "loss")
    assert far["Mean squared error (MSE)"]["loss at ŷ"] == "16"
    assert far["Mean squared error (MSE)"]["slope dL/dŷ"] == "8"  # 2·(4 − 0)
    assert far["Mean absolute error (MAE)"]["slope dL/dŷ"] == "1"
    assert far["Huber"]["slope dL/dŷ"] == "1"
    assert losses.get("mse").latex in shown_latex(at)


def test_the_outlier_drags_the_mse_constant_to_the_mean():
    at = page_test("pages/losses.py").run()
    at.slider(key="loss_outlier").set_value(40.0).run()
    assert not at.exception
    data = [*losses.OUTLIER_DATA, 40.0]
    text = next(m.value for m in at.markdown if m.value.startswith("The constant that"))
    assert f"Mean squared error (MSE) **{readable.number(np.mean(data), 4)}**" in text
    assert f"Mean absolute error (MAE) **{readable.number(np.median(data), 4)}**" in text


def test_confidently_wrong_cross_entropy_keeps_a_strong_slope():
    at = page_test("pages/losses.py").run()
    at.slider(key="loss_probability").set_value(0.01).run()
    assert not at.exception
    metrics = [(m.label, m.value) for m in at.metric]
    assert metrics[0] == ("Binary cross-entropy", readable.number(-math.log(0.01), 4))
    assert metrics[1][1] == readable.number(0.01 - 1, 4) == "−0.99"  # dL/dz = ŷ − y
    assert abs(float(metrics[3][1].replace(readable.MINUS, "-"))) < 0.05  # MSE's has faded
    at.radio(key="loss_true_class").set_value(0).run()
    assert [m.value for m in at.metric][1] == "+0.01"


def test_worked_example_matches_keras_and_bad_input_is_a_friendly_error():
    at = page_test("pages/losses.py").run()
    at.selectbox(key="loss_we_name").set_value("categorical_crossentropy").run()
    assert not at.exception
    table = worked_table(at)
    assert list(table["this sample's term"]) == ["−(1·log(0.7))", "−(1·log(0.8))", "−(1·log(0.4))"]
    assert "ŷ as Keras uses it" not in table  # every row adds up to 1
    expected = -np.mean(np.log([0.7, 0.8, 0.4]))
    keras_line = next(m.value for m in at.markdown if m.value.startswith("`keras.losses`"))
    assert f"**{readable.number(expected, 10)}**" in keras_line
    assert "the same number" in keras_line
    assert losses.get("categorical_crossentropy").latex in shown_latex(at)

    at.text_input(key="loss_we_p_categorical_crossentropy").set_value("0.7 0.2 x").run()
    assert not at.exception
    assert "'x' is not a number" in at.error[0].value


def test_sparse_worked_example_shows_the_rescaled_row_and_the_division():
    at = page_test("pages/losses.py").run()
    at.selectbox(key="loss_we_name").set_value("sparse_categorical_crossentropy").run()
    at.text_input(key="loss_we_p_sparse_categorical_crossentropy").set_value(
        "0.6 0.2 0.1; 0.1 0.8 0.1; 0.3 0.3 0.4"
    ).run()
    assert not at.exception and not at.error
    table = worked_table(at)
    assert list(table["this sample's term"])[:2] == ["−log(0.6 ÷ 0.9)", "−log(0.8)"]
    assert list(table["ŷ as Keras uses it"])[0] == "0.6667, 0.2222, 0.1111"
    assert any("Row 1 of ŷ does not add up to 1" in c.value for c in at.caption)
    assert losses.get("sparse_categorical_crossentropy").latex in shown_latex(at)
    expected = -np.mean(np.log([0.6 / 0.9, 0.8, 0.4]))  # the formula with its division
    keras_line = next(m.value for m in at.markdown if m.value.startswith("`keras.losses`"))
    assert f"**{readable.number(expected, 10)}**" in keras_line
    assert "the same number" in keras_line


def test_one_hot_and_class_numbers_walkthrough_gives_the_same_number_for_my_labels():
    at = page_test("pages/losses.py").run()
    at.text_input(key="loss_oh_classes").set_value("1, 0").run()
    at.text_input(key="loss_oh_rows").set_value("0.25 0.75; 0.9 0.1").run()
    assert not at.exception and not at.error
    table = table_with(at, "one-hot y")
    assert list(table["one-hot y"]) == ["0, 1", "1, 0"]
    assert list(table["sparse: −log ŷ_c"]) == ["−log(0.75)", "−log(0.9)"]
    assert list(table["categorical: −Σ y·log ŷ"])[0] == "−(0·log(0.25) + 1·log(0.75))"
    expected = readable.number(-np.mean(np.log([0.75, 0.9])), 10)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Categorical cross-entropy, one-hot labels"] == expected
    assert shown["Sparse categorical cross-entropy, class numbers"] == expected
    assert any("learning_rate=0.001" in block.value for block in at.code)

    at.text_input(key="loss_oh_rows").set_value("0.25 0.7; 0.9 0.1").run()
    assert not at.exception
    assert "Row 1 adds up to 0.95, not 1" in at.error[0].value


def chinese_page():
    at = page_test("pages/losses.py")
    at.session_state["language"] = "zh"
    return at.run()


def chart_layouts(at) -> list[dict]:
    """The layout of each Plotly chart on the page, as sent to the browser."""
    return [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]


TABS = ["Regression", "Classification", "One-hot or class number?", "Worked example"]


@pytest.mark.parametrize("tab", range(len(TABS)), ids=TABS)
def test_every_tab_reads_in_chinese_and_in_english_none_of_it_is(tab):
    at = chinese_page()
    assert not at.exception
    with i18n.using("zh"):
        assert at.tabs[tab].label == _(TABS[tab])
    assert chinese_share(visible_text(at.tabs[tab])) > 0.8, visible_text(at.tabs[tab])
    # A closing ** right after Chinese punctuation and before a character is not bold in
    # Markdown (CommonMark's flanking rule): the learner would read the asterisks.
    stuck = re.compile(r"[：；，。、？！]\*\*[^\s*（）：；，。、？！]")
    assert not [m.value for m in at.tabs[tab].markdown if stuck.search(m.value)]
    english = page_test("pages/losses.py").run()
    assert not english.exception and english.tabs[tab].label == TABS[tab]
    assert chinese_share(visible_text(english.tabs[tab])) == 0
    assert chinese_share(visible_text(english)) == 0


def test_the_charts_and_tables_speak_chinese_with_the_numbers_unchanged():
    at = chinese_page()
    layout = chart_layouts(at)[0]
    with i18n.using("zh"):
        assert layout["xaxis"]["title"]["text"] == _("prediction ŷ")
        assert layout["yaxis2"]["title"]["text"] == _("slope dL/dŷ")
        table = next(f.value for f in at.dataframe if _("loss at ŷ") in f.value)
        near = {row[_("loss")]: row for row in table.to_dict("records")}
        assert near[_(losses.get("mse").title)][_("loss at ŷ")] == "4"  # as in English
    assert "均方误差（MSE）" in near  # the tutorial's term
    data = [*losses.OUTLIER_DATA, 15.0]
    summary = next(m.value for m in at.markdown if m.value.startswith("使各个损失函数"))
    assert f"均方误差（MSE） **{readable.number(np.mean(data), 4)}**、" in summary
    huber = shown_latex(at)[2]  # mse, mae, huber selected
    assert r"\text{其他情况}" in huber and r"\text{otherwise}" not in huber


@pytest.mark.parametrize("name", losses.names())
def test_worked_example_of_every_loss_reads_in_chinese(name):
    at = chinese_page()
    with i18n.using("zh"):  # AppTest formats the option labels in the test's thread
        at.selectbox(key="loss_we_name").set_value(name).run()
    assert not at.exception and not at.error
    worked = at.tabs[3]
    assert chinese_share(visible_text(worked)) > 0.8, visible_text(worked)
    with i18n.using("zh"):
        table = table_with(at, _("this sample's term"))
        assert _(losses.get(name).note) in [c.value for c in worked.caption]
    assert not [term for term in table["该样本的损失项"] if "error" in term or "clipped" in term]


def test_worked_example_notes_and_refusals_read_in_chinese():
    at = chinese_page()
    with i18n.using("zh"):
        at.selectbox(key="loss_we_name").set_value("sparse_categorical_crossentropy").run()
        at.text_input(key="loss_we_p_sparse_categorical_crossentropy").set_value(
            "0.6 0.2 0.1; 0.1 0.8 0.1; 0.3 0.3 0.4"
        ).run()
        assert not at.exception and not at.error
        table = table_with(at, _("ŷ as Keras uses it"))
        assert list(table[_("ŷ as Keras uses it")])[0] == "0.6667, 0.2222, 0.1111"
    assert any(c.value.startswith("ŷ 的第 1 行之和不为 1") for c in at.caption)
    assert any(m.value.endswith("是同一个数）。") for m in at.markdown)

    # Once a selectbox has a value, every run formats it in the test's thread: stay in Chinese.
    with i18n.using("zh"):
        at.text_input(key="loss_we_p_sparse_categorical_crossentropy").set_value("0.7 x").run()
        assert not at.exception
        assert at.error[0].value == "预测值：“x”不是一个数。"
        at.text_input(key="loss_oh_classes").set_value("1, 0").run()
        at.text_input(key="loss_oh_rows").set_value("0.25 0.7; 0.9 0.1").run()
    assert not at.exception
    assert at.error[0].value.startswith("第 1 行之和是 0.95，不是 1")
