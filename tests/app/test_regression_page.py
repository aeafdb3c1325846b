"""AppTest behaviour tests of the regression page: data, training to the end, bad uploads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dlcore import i18n, jobs, readable, regression
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text

GOOD_CSV = "size_m2,price_eur\n" + "\n".join(f"{a},{1000 * a + 50}" for a in range(40, 70))
BAD_CSV = GOOD_CSV.replace("45,45050", "45,")  # an empty price cell on data row 6


def _run(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _chart(at, key: str) -> dict:
    """The Plotly spec of the chart with this key, as JSON."""
    for element in at.get("plotly_chart"):
        if key in element.proto.id:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key}")


def _train(at, **widgets):
    """Set widgets by key, click Train, wait for the job, and rerun to show the result."""
    for key, value in widgets.items():
        at.session_state[key] = value
    at.button(key="reg_train").click()
    _run(at)
    handle = jobs.get(at.session_state["reg_job"]["key"])
    assert handle.wait(120)
    return _run(at), handle


def test_page_shows_data_scaling_and_the_keras_code():
    at = _run(page_test("pages/regression.py"))
    assert "1,000 houses" in at.caption[0].value
    code = at.code[0].value
    assert "Dense(10, activation='relu')" in code and "SGD(learning_rate=0.01)" in code
    assert any(r"\frac{\text{area} - " in latex.value for latex in at.latex)
    assert at.info[0].value.startswith("Press **Train**")


def test_training_finishes_and_shows_metrics_and_a_prediction():
    at = _run(page_test("pages/regression.py"))
    at, handle = _train(at, reg_n=200, reg_epochs=3, reg_opt="adam", reg_lr=0.03)
    result = handle.result()
    assert result.status == "completed"
    assert at.success[0].value.startswith("Trained in")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["R²"] == readable.grouped(result.metrics["test_r2"], 3)
    assert metrics["RMSE"] == readable.grouped(result.metrics["test_rmse"])  # e.g. 52,311
    assert metrics["MSE"] == readable.number(result.metrics["test_mse"])  # e.g. 2.74×10⁹
    assert "Predicted price" in metrics and not at.warning  # the default area is typical
    at.number_input(key="reg_area").set_value(5.0)  # homes start at 30 m²
    _run(at)
    assert "outside the training range" in at.warning[0].value
    assert len(at.session_state["reg_runs"]) == 1
    assert [d.label for d in at.get("download_button")] == [
        "Download the model (.keras)",
        "Download the history (.csv)",
    ]


def test_look_inside_marks_and_explains_the_dead_relu_units():
    """Min-max areas in [0, 1] and zero starting biases: units with a negative starting
    weight are dead from the first step. The page counts them from the model's weights."""
    at = _run(page_test("pages/regression.py"))
    at, handle = _train(at, reg_n=200, reg_epochs=3, reg_opt="adam", reg_lr=0.03)
    dead = regression.result_dead_units(handle.result(), at.session_state["reg_job"]["data"])
    assert dead.size > 0
    lesson = next(i.value for i in at.info if "hidden units are dead" in i.value)
    assert lesson.startswith(f"**{dead.size} of 10 hidden units are dead**")
    assert "≤ 0 for every training house" in lesson and "never recovers" in lesson
    assert "min-max scaling puts every area' between 0 and 1" in lesson
    traces = {t["name"]: t for t in _chart(at, "reg_parts")["data"]}
    for j in range(10):
        trace = traces.get(f"unit {j + 1} (dead)" if j in dead else f"unit {j + 1}")
        assert trace is not None, (j, list(traces))
        assert (trace["line"].get("dash") == "dash") == (j in dead)
    # Units alive have strong, distinct colours; the dead ones share one grey.
    alive = {traces[f"unit {j + 1}"]["line"]["color"] for j in range(10) if j not in dead}
    assert len(alive) == 10 - dead.size


def test_standardized_tanh_units_are_never_called_dead():
    at = _run(page_test("pages/regression.py"))
    at, _ = _train(at, reg_n=200, reg_epochs=2, reg_act="tanh", reg_norm="standard")
    assert not any("hidden units are dead" in i.value for i in at.info)
    assert not any("(dead)" in t["name"] for t in _chart(at, "reg_parts")["data"])


def test_after_a_diverged_run_the_latest_good_model_is_shown_and_named():
    at = _run(page_test("pages/regression.py"))
    at, good = _train(at, reg_n=100, reg_epochs=3, reg_opt="adam", reg_lr=0.03)
    at, bad = _train(at, reg_epochs=20, reg_opt="sgd", reg_lr=10.0)
    assert bad.snapshot().state == "diverged"
    label = regression.settings_label(good.result().config)
    shown = f"The last run diverged (tab 4), so this is your latest good model: {label}."
    assert [w.value for w in at.warning] == [shown, shown]  # on Look inside and on Predict
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["RMSE"] == readable.grouped(good.result().metrics["test_rmse"])
    assert "Predicted price" in metrics
    summary = at.session_state["reg_runs"][-1]
    assert summary.status == "diverged" and summary.diverged_at >= 1
    compare = _chart(at, "reg_compare")
    assert compare["layout"]["yaxis"]["type"] == "log" and "dtick" not in compare["layout"]["yaxis"]
    drawn_rmse = [e for run in at.session_state["reg_runs"] for e in run.test_rmse]
    in_full = np.nanmax(np.where(np.isfinite(drawn_rmse), drawn_rmse, np.nan)) < 1e9
    # 40,000 rather than 0.4×10⁵; powers of ten once a diverging run reaches 10⁹ or more.
    assert compare["layout"]["yaxis"]["exponentformat"] == ("none" if in_full else "power")
    assert compare["layout"]["yaxis"]["separatethousands"] is True
    diverged = f"{summary.label} (diverged at epoch {summary.diverged_at})"
    drawn = [t for t in compare["data"] if t["name"] == diverged]
    if np.isfinite(summary.test_rmse).any():  # its curve up to the epoch it broke, dashed
        assert drawn[0]["line"]["dash"] == "dash" and drawn[0]["marker"]["symbol"][-1] == "x"
    else:  # no finite point at all: said in words instead of an empty legend entry
        assert not drawn
        assert any(
            c.value.startswith(f"Not drawn: {summary.label} diverged at epoch ") for c in at.caption
        )


def test_same_settings_come_back_from_the_cache():
    at = _run(page_test("pages/regression.py"))
    at, first = _train(at, reg_n=100, reg_epochs=2)
    jobs._registry.pop(first.key)  # as if the server had restarted: only the cache is left
    at.button(key="reg_train").click()
    _run(at)
    assert at.success[0].value == "Loaded from the cache"


def test_a_diverged_run_is_explained_with_a_smaller_learning_rate():
    at = _run(page_test("pages/regression.py"))
    at, handle = _train(at, reg_n=100, reg_epochs=20, reg_lr=10.0)
    assert handle.snapshot().state == "diverged"
    assert "too high" in at.error[0].value and "10× smaller: 1" in at.error[0].value
    assert "diverged" in at.info[0].value  # look-inside and predict say why they are empty
    assert at.session_state["reg_runs"][-1].status == "diverged"  # kept to compare with


def test_a_bad_csv_names_the_problem_and_keeps_the_previous_data():
    at = _run(page_test("pages/regression.py"))
    at.radio(key="reg_source").set_value("csv")
    _run(at)
    at.file_uploader(key="reg_csv").set_value(("houses.csv", GOOD_CSV.encode(), "text/csv"))
    _run(at)
    good = at.session_state["reg_data"]
    assert "uploaded CSV: 30 rows" in str(good.source)
    assert at.selectbox(key="reg_csv_area").value == "size_m2"
    assert at.selectbox(key="reg_csv_price").value == "price_eur"
    at.file_uploader(key="reg_csv").set_value(("broken.csv", BAD_CSV.encode(), "text/csv"))
    _run(at)
    assert "price_eur" in at.error[0].value and "row 6" in at.error[0].value
    kept = at.session_state["reg_data"]
    assert kept.fingerprint == good.fingerprint
    np.testing.assert_array_equal(kept.price, np.arange(40, 70) * 1000 + 50)


def test_stop_ends_the_run_early_and_keeps_its_best_epoch():
    at = _run(page_test("pages/regression.py"))
    at.session_state["reg_n"] = 100
    at.session_state["reg_epochs"] = 2000
    at.button(key="reg_train").click()
    _run(at)
    handle = jobs.get(at.session_state["reg_job"]["key"])
    at.button(key="reg_job_stop").click()  # the live panel's Stop button
    _run(at)
    assert handle.wait(60)
    _run(at)
    snap = handle.snapshot()
    assert snap.state == "stopped" and snap.epoch < 2000
    assert at.info[0].value.startswith("Stopped after")
    assert {m.label for m in at.metric} >= {"MSE", "RMSE", "MAE", "R²"}  # the best epoch's model


def test_a_run_with_too_many_steps_is_refused_and_train_is_disabled():
    at = _run(page_test("pages/regression.py"))
    assert any(c.value.startswith("5,000 optimizer steps") for c in at.caption)
    at.session_state["reg_batch"] = 1
    _run(at)
    assert "make 160,000 optimizer steps; the limit is 100,000" in at.error[0].value
    assert at.button(key="reg_train").disabled
    assert not any("Press **Train**" in info.value for info in at.info)
    at.session_state["reg_batch"] = 32
    _run(at)
    assert not at.error and not at.button(key="reg_train").disabled


def _upload(at, content: bytes, name: str = "houses.csv"):
    """Switch to "My CSV file" (the value "csv") and upload content, as a learner does."""
    at.radio(key="reg_source").set_value("csv")
    _run(at)
    at.file_uploader(key="reg_csv").set_value((name, content, "text/csv"))
    return _run(at)


def _rows(cells) -> str:
    return "".join(f"{60 + i},{cell}\n" for i, cell in enumerate(cells))


WIDE = (",".join(f"c{i}" for i in range(50_000)) + "\n" + ",".join(["1"] * 50_000) + "\n") * 2
BAD_UPLOADS = {
    "50,000 columns": (WIDE.encode(), "The file has 50,000 columns; at most 100 are supported"),
    "an Excel file": (b"PK\x03\x04" + bytes(500), "This is an Excel file (.xlsx"),
    "damaged UTF-16": ("area\tprice\n1\t2\n".encode("utf-16") + b"x", "UTF-16 'Unicode text'"),
    "thousands separators": (
        ("area,price\n" + _rows(f'"1,{200 + i},000"' for i in range(12))).encode(),
        "'1,200,000'. It looks like a number with thousands separators: remove them",
    ),
    "quoted decimal commas": (
        ("area,price\n" + _rows(f'"{200 + i},5"' for i in range(12))).encode(),
        "'200,5'. Use a dot for decimals: write 200.5.",
    ),
    "±1e308 prices": (
        ("area,price\n" + _rows("1e308" if i % 2 else "-1e308" for i in range(12))).encode(),
        "too large to compute with on data row 1: −1×10³⁰⁸",
    ),
    "1e300 prices": (
        ("area,price\n" + _rows(f"{i + 1}e300" for i in range(12))).encode(),
        "too large to compute with on data row 1: 1×10³⁰⁰",
    ),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_a_hostile_or_unusable_csv_shows_an_error_and_the_page_keeps_working(case):
    content, message = BAD_UPLOADS[case]
    at = _upload(_run(page_test("pages/regression.py")), content)
    for _rerun in range(2):  # the same file stays on the uploader: every rerun says it again
        assert len(at.error) == 1 and message in at.error[0].value, [e.value for e in at.error]
        assert at.error[0].value.startswith("This file cannot be used: ")
        assert "1,000 houses" in at.caption[0].value  # the previous (synthetic) data is kept
        assert not at.button(key="reg_train").disabled
        _run(at)


def test_a_bad_area_cell_is_named_with_its_row_and_the_column_stays_offered():
    rows = "".join(f"{60 + i},{100_000 + 1000 * i},{1 + i % 4}\n" for i in range(12))
    content = ("area,price,rooms\n" + rows.replace("\n64,", "\nabc,")).encode()
    at = _upload(_run(page_test("pages/regression.py")), content)
    assert at.selectbox(key="reg_csv_area").options == ["area", "price", "rooms"]
    assert at.selectbox(key="reg_csv_area").value == "area"
    assert "Column 'area' has a value that is not a finite number on data row 5: 'abc'." in (
        at.error[0].value
    )
    at.selectbox(key="reg_csv_area").set_value("rooms")  # another column: usable again
    _run(at)
    assert not at.error and "uploaded CSV: 12 rows, columns 'rooms' and 'price'" in (
        at.caption[0].value
    )


def test_decimal_commas_are_read_and_the_learner_is_told():
    rows = "".join(f"{60 + i},5;{100_000 + 1000 * i}\n" for i in range(12))
    at = _upload(_run(page_test("pages/regression.py")), ("area;price\n" + rows).encode())
    assert not at.error
    assert at.warning[0].value == (
        "Column 'area': decimal commas were read as decimal points ('60,5' → 60.5)."
    )
    assert at.session_state["reg_data"].area[0] == 60.5


def test_a_training_split_with_one_price_is_explained_and_another_seed_recovers():
    """Ten houses, one price apart: split seed 0 keeps it for testing (rows 5 and 7), so
    all 8 training houses cost the same. The page used to crash on every rerun."""
    price = ["250000" if i == 4 else "100000" for i in range(10)]
    at = _upload(_run(page_test("pages/regression.py")), f"area,price\n{_rows(price)}".encode())
    for _rerun in range(2):
        assert len(at.error) == 2  # on the data tab and on the train tab
        assert all(
            e.value.startswith(
                "These houses cannot be used for training: All 8 "
                "training houses have the same price"
            )
            for e in at.error
        )
        assert "Change the split seed" in at.error[0].value
        _run(at)
    at.number_input(key="reg_seed").set_value(2)  # rows 1 and 3 for testing
    _run(at)
    assert not at.error
    assert "The network trains on 8 houses" in at.caption[0].value
    assert not at.button(key="reg_train").disabled


def test_a_diverged_run_is_drawn_dashed_up_to_its_last_finite_epoch_then_crossed():
    import plotly.graph_objects as go

    from ui.regression_results import add_run

    rmse = (9e4, 7e4, 8e5, float("inf"))  # diverged in epoch 4
    run = regression.RunSummary("k", "lr 3", rmse, rmse, {}, "diverged", diverged_at=4)
    fig = go.Figure()
    add_run(fig, run, "#1f77b4")
    (trace,) = fig.data
    assert trace.name == "lr 3 (diverged at epoch 4)"
    assert list(trace.x) == [1, 2, 3] and list(trace.y) == [9e4, 7e4, 8e5]
    assert trace.line.dash == "dash" and list(trace.marker.symbol) == ["circle"] * 2 + ["x"]


# ------------------------------------------------------------- 简体中文


def _in_chinese(at):
    at.session_state["language"] = "zh"
    return at


@pytest.fixture
def reading_chinese():
    """The test reads in Chinese too: AppTest calls a widget's format_func in the test's
    thread (to match a value to its label), where the page's session language is unknown."""
    with i18n.using("zh"):
        yield


def test_the_page_reads_in_chinese_and_in_english_has_no_chinese():
    at = _run(_in_chinese(page_test("pages/regression.py")))
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert [tab.label for tab in at.tabs][:6] == [
        "1 · 数据",
        "2 · 缩放",
        "3 · 模型",
        "4 · 训练",
        "5 · 看看内部",
        "6 · 预测",
    ]
    assert "神经网络（neural network）" in at.markdown[0].value  # the English term, once
    assert at.caption[0].value.startswith(  # where the data came from, read in Chinese
        "合成数据：1,000 套房屋，噪声 0.1，非线性程度 0，随机种子 0。网络用 800 套房屋训练"
    )
    assert any(r"\text{面积}'" in latex.value for latex in at.latex)  # words in \text{…}
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert titles[:3] == ["房屋数据", "原始数据", "缩放后"]
    assert at.radio(key="reg_source").value == "synthetic"  # a stable value, a Chinese label
    assert at.radio(key="reg_source").options == ["合成房屋数据", "我的 CSV 文件"]
    english = _run(page_test("pages/regression.py"))
    assert chinese_share(visible_text(english)) == 0


def test_a_trained_model_is_looked_inside_and_used_in_chinese(reading_chinese):
    """Tabs 5 and 6 after a training run: explanations, chart titles, legends, the weights
    table's headers and the scores' help all in Chinese; the numbers are the same."""
    at = _run(_in_chinese(page_test("pages/regression.py")))
    at, handle = _train(at, reg_n=200, reg_epochs=3, reg_opt="adam", reg_lr=0.03)
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    dead = regression.result_dead_units(handle.result(), at.session_state["reg_job"]["data"])
    lesson = next(i.value for i in at.info if "个已经死亡" in i.value)
    assert lesson.startswith(f"**10 个隐藏层神经元中有 {dead.size} 个已经死亡**")
    parts = _chart(at, "reg_parts")
    assert parts["layout"]["title"]["text"] == "各隐藏层神经元的贡献"
    assert parts["layout"]["xaxis"]["title"]["text"] == "面积（m²）"
    assert {t["name"] for t in parts["data"]} >= {"输出偏置", "总和 = 预测值"}
    assert _chart(at, "reg_predict")["layout"]["title"]["text"] == "你的房屋在曲线上的位置"
    table = at.dataframe[0].value
    assert list(table.columns) == ["输入权重（w1）", "偏置（b1、b2）", "输出权重（w2）"]
    assert table.index[-1] == "输出" and table.index.name == "神经元"
    metrics = {m.label: m for m in at.metric}
    assert metrics["RMSE"].value == readable.grouped(handle.result().metrics["test_rmse"])
    assert "预测价格" in metrics
    assert at.number_input(key="reg_area").label == "房屋面积（m²）"
    compare = _chart(at, "reg_compare")
    assert compare["layout"]["title"]["text"] == "比较各次训练：每一轮的测试误差"
    (run,) = compare["data"]
    assert run["name"].endswith("（已完成）") and "个 relu 神经元" in run["name"]


def test_a_refused_upload_and_a_diverged_run_are_explained_in_chinese(reading_chinese):
    price = ["250000" if i == 4 else "100000" for i in range(10)]
    at = _run(_in_chinese(page_test("pages/regression.py")))
    at = _upload(at, f"area,price\n{_rows(price)}".encode())
    assert at.error[0].value.startswith(
        "这些房屋数据不能用于训练：全部 8 套训练房屋的价格都相同，都是 100,000（列 'price'）"
    )
    at = _run(_in_chinese(page_test("pages/regression.py")))
    at, handle = _train(at, reg_n=100, reg_epochs=20, reg_lr=10.0)
    assert handle.snapshot().state == "diverged"
    assert at.error[0].value.startswith(
        "训练发散了：损失变成了无穷大或 NaN。对这个设置来说，学习率 10"
    )
    assert at.info[0].value == "上一次训练发散了（第 4 个标签页）：没有可显示的内容。"
