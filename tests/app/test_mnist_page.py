"""MNIST page behaviour through AppTest: explore, train a tiny model, evaluate, look inside,
read an uploaded digit, and refuse a bad file."""

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from dlcore import data as datasets
from dlcore import i18n, jobs, recipes
from dlcore.configs import MNIST_TUTORIAL, MnistConfig
from dlcore.i18n import _
from dlcore.readable import number
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text

TINY = {"epochs": 1, "train_size": 500, "validation_size": 200}


def _open(at, tab: str):
    at.session_state["mnist_tab"] = tab
    return at.run()


def _train_tiny(at):
    """Set the controls to a tiny config, press Train, wait for the job, rerun."""
    _open(at, "Train")
    for name, value in TINY.items():
        at.number_input(key=f"mnist_w_{name}").set_value(value)
    at.run()
    at.button(key="mnist_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    handle = jobs.get(at.session_state["mnist_job"]["key"])
    assert handle.wait(300), "the tiny training did not finish"
    return at.run()


def _photo_of_digit(index: int) -> bytes:
    """A test digit as a photo would show it: dark ink on light paper, larger, as PNG."""
    (_, _), (x_test, _) = datasets.load_mnist()
    ink = np.asarray(Image.fromarray(x_test[index]).resize((140, 140), Image.Resampling.BICUBIC))
    paper = np.pad(255 - ink, 40, constant_values=255)
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def trained_page(tmp_path_factory):
    """One page session with a tiny model trained to completion (shared by the tests)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DLCORE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    at = _train_tiny(page_test("pages/mnist.py", timeout=240).run())
    yield at
    mp.undo()


def test_explore_tab_shows_the_first_training_image_and_the_data_statistics():
    at = page_test("pages/mnist.py", timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    (x_train, y_train), _ = datasets.load_mnist()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean brightness"] == f"{x_train.mean():.1f} / 255"
    assert metrics["Black background pixels"] == f"{100 * (x_train == 0).mean():.1f} %"
    text = " ".join(md.value for md in at.markdown)
    assert "Normalization" in text
    at.number_input(key="mnist_explore_index").set_value(7).run()
    assert not at.exception


def test_tabs_needing_a_model_offer_training_first():
    at = page_test("pages/mnist.py", timeout=120).run()
    for tab in ("Evaluate", "Look inside"):
        _open(at, tab)
        assert not at.exception
        assert any("no trained model" in info.value for info in at.info), tab
        assert any(b.key.startswith("mnist_offer_quick") for b in at.button)


def test_train_tiny_model_to_completion_shows_scores_and_downloads(trained_page):
    at = trained_page
    assert [s.value for s in at.success], "no success message after training"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Epochs run"] == "1"
    assert metrics["Test accuracy"].endswith("%")
    kept = {m.label: m.proto.help for m in at.metric}["Epochs run"]
    assert kept == "Weights kept: epoch 1, the last one (training ran to the end)."
    labels = [b.label for b in at.download_button]
    assert "Download the model (.keras)" in labels and "Download the history (.csv)" in labels
    assert any("Model in use" in c.value for c in at.caption)
    assert any("sparse_categorical_crossentropy" in c.value for c in at.code)


def test_settings_survive_a_visit_to_another_tab(trained_page):
    at = _open(trained_page, "Explore")
    at = _open(at, "Train")
    assert at.number_input(key="mnist_w_train_size").value == TINY["train_size"]
    assert at.number_input(key="mnist_w_epochs").value == TINY["epochs"]


def test_quick_preset_sets_the_quick_recipe():
    from dlcore.configs import MNIST_QUICK

    at = _open(page_test("pages/mnist.py", timeout=120).run(), "Train")
    at.button(key="mnist_preset_quick").click().run()
    assert at.number_input(key="mnist_w_train_size").value == MNIST_QUICK.train_size
    assert at.number_input(key="mnist_w_epochs").value == MNIST_QUICK.epochs


def test_a_garbage_png_shows_a_friendly_error_and_nothing_breaks():
    at = _open(page_test("pages/mnist.py", timeout=120).run(), "Read my digit")
    at.file_uploader(key="mnist_upload").set_value(("digit.png", b"not an image", "image/png"))
    at.run()
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)


def _model_predictions(at) -> np.ndarray:
    """What the session's trained model predicts for every test image, computed here."""
    model = jobs.get(at.session_state["mnist_model"]["key"]).result().model
    (_, _), (x_test, _) = datasets.load_mnist()
    return np.asarray(model.predict_on_batch(x_test)).argmax(axis=1)


def test_evaluate_tab_scores_the_test_set_and_a_matrix_cell_shows_its_images(trained_page):
    at = _open(trained_page, "Evaluate")
    assert not at.exception, [e.value for e in at.exception]
    (_, _), (_, y_test) = datasets.load_mnist()
    predicted = _model_predictions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mistakes"] == f"{int((predicted != y_test).sum()):,} of 10,000"
    at.selectbox(key="mnist_cell_true").set_value(3)
    at.selectbox(key="mnist_cell_pred").set_value(5).run()
    assert not at.exception
    in_cell = int(((y_test == 3) & (predicted == 5)).sum())
    assert any(c.value.startswith(f"{in_cell:,} test images are 3s read as 5") for c in at.caption)
    # The tutorial's 5x5 grid: the first 25 test images, each wrong answer marked
    grid = [c for image in at.image for c in image.captions if c.startswith("Predicted:")]
    assert len(grid) == 25
    assert [c.split()[1] for c in grid] == [str(p) for p in predicted[:25]]
    assert sum("✗" in c for c in grid) == int((predicted[:25] != y_test[:25]).sum())


def test_read_my_digit_reads_an_uploaded_photo(trained_page):
    at = _open(trained_page, "Read my digit")
    at.file_uploader(key="mnist_upload").set_value(("seven.png", _photo_of_digit(0), "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    reading = {m.label: m.value for m in at.metric}["I read"]
    assert reading in [str(d) for d in range(10)]
    assert at.session_state["mnist_digit"].shape == (28, 28)


def test_look_inside_shows_feature_maps_of_each_layer_for_the_users_digit(trained_page):
    at = _open(trained_page, "Look inside")
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(md.value for md in at.markdown)
    for layer in ("conv1", "pool1", "conv2", "pool2"):
        assert f"**{layer}**" in text
    at.radio(key="mnist_inside_source").set_value("mine").run()
    assert not at.exception


def test_stop_keeps_the_best_epoch_and_the_page_uses_that_model():
    """Stopping after the first epoch keeps a trained model, marked as stopped by the user."""
    at = _open(page_test("pages/mnist.py", timeout=240).run(), "Train")
    for name, value in {"epochs": 20, "train_size": 2000, "validation_size": 200}.items():
        at.number_input(key=f"mnist_w_{name}").set_value(value)
    at.run()
    at.button(key="mnist_train").click().run()
    handle = jobs.get(at.session_state["mnist_job"]["key"])
    deadline = time.monotonic() + 240
    while not handle.snapshot().history and time.monotonic() < deadline:
        time.sleep(0.2)  # wait for the first epoch to end
    at.run()
    at.button(key="mnist_job_stop").click().run()
    assert handle.wait(240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    result = handle.result()
    assert result.status == "stopped" and 1 <= result.epochs_run < 20
    assert any("stopped early by you" in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Epochs run"] == str(result.epochs_run)
    kept = {m.label: m.proto.help for m in at.metric}["Epochs run"]
    assert kept.startswith(f"Weights kept: epoch {result.extras['best_epoch'] + 1}, the best")


def test_a_preset_model_already_in_the_cache_is_used_without_training(monkeypatch):
    """A learner opening "Read my digit" after anyone trained the quick model reads at once."""
    from ui.mnist import shared

    tiny = MnistConfig(**TINY)
    assert jobs.submit(tiny).wait(300)
    monkeypatch.setattr(shared, "MNIST_QUICK", tiny)
    at = _open(page_test("pages/mnist.py", timeout=120).run(), "Read my digit")
    assert not at.exception, [e.value for e in at.exception]
    assert not any("no trained model" in info.value for info in at.info)
    assert at.session_state["mnist_model"]["config"] == tiny


def test_a_run_too_long_for_a_shared_server_is_refused_before_it_trains():
    at = _open(page_test("pages/mnist.py", timeout=120), "Train")
    assert any("2,580 optimizer steps, 1× the default" in c.value for c in at.caption)
    at.number_input(key="mnist_w_epochs").set_value(50).run()
    assert not at.exception
    assert "16.7× the default recipe's arithmetic; the limit is 10×" in at.error[0].value
    assert at.button(key="mnist_train").disabled
    assert not any("Press **Train**" in info.value for info in at.info)


def test_preset_labels_show_the_accuracy_measured_here_once_the_model_is_cached():
    from ui.mnist.shared import accuracy_label

    tiny = MnistConfig(**TINY)
    assert accuracy_label(tiny, "≈ 98 %") == "≈ 98 %"  # not trained here yet: the typical figure
    handle = jobs.submit(tiny)
    assert handle.wait(300)
    measured = handle.result().metrics["test_accuracy"]
    assert accuracy_label(tiny, "≈ 98 %") == f"{number(100 * measured)} % here"


def test_tutorial_preset_sets_every_control_to_section_5_2():
    at = _open(page_test("pages/mnist.py", timeout=120).run(), "Train")
    at.button(key="mnist_preset_tutorial").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["mnist_settings"] == MNIST_TUTORIAL.to_dict()
    assert at.selectbox(key="mnist_w_precision").value == "float32"
    assert at.select_slider(key="mnist_w_batch_size").value == 32
    # 5 epochs of 60,000 images in batches of 32: 5 x 1,875 steps.
    assert any("9,375 optimizer steps" in c.value for c in at.caption)


# Four tiny recipes standing in for the tutorial's, the two steps between, and ours.
TINY_STEPS = tuple(
    recipes.RecipeStep(change, MnistConfig(epochs=1, train_size=400, validation_size=0, **rest))
    for change, rest in (
        ("tutorial", {"batch_size": 32, "schedule": "constant", "precision": "float32"}),
        ("batch_size", {"batch_size": 64, "schedule": "constant", "precision": "float32"}),
        ("schedule", {"batch_size": 64, "precision": "float32"}),
        ("precision", {"batch_size": 64}),
    )
)


def _wait_for_recipe_jobs(at) -> None:
    """Wait for the recipe jobs the page queued (a finished one has left the session)."""
    for step in TINY_STEPS:
        key = "mnist_recipe_" + step.change
        if key in at.session_state:
            assert jobs.get(at.session_state[key]["key"]).wait(300), step.change


def _trained(step) -> recipes.Measured:
    result = jobs.submit(step.config).result()  # cached: comes back at once
    return recipes.Measured(result.train_seconds, result.metrics["test_accuracy"])


def test_the_comparison_trains_both_recipes_then_each_change_and_shows_the_measured_figures(
    monkeypatch,
):
    monkeypatch.setattr(recipes, "RECIPE_STEPS", TINY_STEPS)
    at = _open(page_test("pages/mnist.py", timeout=240).run(), "Train")
    assert any(recipes.TUTORIAL_CODE.strip() == c.value.strip() for c in at.code)
    assert any("§5.3 says the model is compiled with mean squared" in i.value for i in at.info)
    assert any("needs both recipes trained" in i.value for i in at.info)
    at.button(key="mnist_recipe_train_both").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any(b.key == "mnist_recipe_train_both" for b in at.button)  # queued, or done
    _wait_for_recipe_jobs(at)
    at.run()
    tutorial, ours = _trained(TINY_STEPS[0]), _trained(TINY_STEPS[-1])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Speed-up"] == f"{number(tutorial.train_seconds / ours.train_seconds)}×"
    assert metrics["Tutorial's recipe: training time"] == f"{number(tutorial.train_seconds)} s"
    points = 100 * (ours.test_accuracy - tutorial.test_accuracy)
    signed = f"+{number(points)}" if points > 0 else number(points)  # a minus of its own
    assert metrics["Test accuracy difference (percentage points)"] == signed
    text = " ".join(md.value for md in at.markdown)
    assert "not measured on this server yet" in text

    at.button(key="mnist_recipe_train_steps").click().run()
    _wait_for_recipe_jobs(at)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    seconds = [_trained(step).train_seconds for step in TINY_STEPS]
    saved = seconds[0] - seconds[-1]
    text = " ".join(md.value for md in at.markdown)
    step_button = any(b.key == "mnist_recipe_train_steps" for b in at.button)
    if saved > 0:
        for before, after in zip(seconds, seconds[1:], strict=False):
            assert f"Measured here: {number(100 * (before - after) / saved)} % of the time" in text
        assert not step_button
    else:  # a tiny run on a busy machine may be no faster than the tutorial's: no shares
        assert "not measured on this server yet" in text and step_button


# ------------------------------------------------------------------------------------------
# 简体中文: the page shell, Train and Evaluate read in Chinese; in English none of it is
# ------------------------------------------------------------------------------------------


def _in_chinese(at):
    at.session_state["language"] = "zh"
    return at


def _spec(at, key: str) -> dict:
    """The Plotly spec of the chart with this key."""
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def test_the_train_tab_reads_in_chinese_and_in_english_has_no_chinese():
    english = _open(page_test("pages/mnist.py", timeout=120).run(), "Train")
    assert not english.exception, [e.value for e in english.exception]
    assert chinese_share(visible_text(english)) == 0
    at = _open(_in_chinese(page_test("pages/mnist.py", timeout=120)), "Train")
    assert not at.exception, [e.value for e in at.exception]
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert at.title[0].value == "✍️ MNIST：一个能认手写数字的网络"
    assert [t.label for t in at.tabs] == ["探索数据", "训练", "评估", "看看内部", "识别我的数字"]
    assert "卷积神经网络（convolutional neural network，CNN）" in text
    assert at.number_input(key="mnist_w_epochs").label == "训练轮次（epochs）"
    assert any("2,580 步优化器更新" in c.value for c in at.caption)
    # The URL and the session keep the language-independent id of the open tab.
    assert at.query_params["mnist_tab"] == ["Train"] or at.query_params["mnist_tab"] == "Train"
    assert at.session_state["mnist_section"] == "Train"
    with i18n.using("zh"):
        headers = {_("layer"), _("output"), _("count"), _("parameters")}
    table = at.dataframe[0].value
    assert set(table.columns) == headers == {"层", "输出", "计算式", "参数数量"}
    # The schedule's and precision's options are keys, shown through format_func.
    assert at.selectbox(key="mnist_w_schedule").value == "cosine"
    assert "余弦衰减到 0" in at.selectbox(key="mnist_w_schedule").options


def test_switching_language_keeps_the_open_tab():
    at = _open(page_test("pages/mnist.py", timeout=120).run(), "Train")
    at.session_state["language"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["mnist_section"] == "Train"
    assert at.session_state["mnist_tab"] == "训练"
    assert at.number_input(key="mnist_w_epochs").label == "训练轮次（epochs）"
    at.session_state["language"] = "en"
    at.run()
    assert at.session_state["mnist_tab"] == "Train"
    assert at.number_input(key="mnist_w_epochs").label == "Epochs"


def test_evaluate_without_a_model_reads_in_chinese():
    at = _open(_in_chinese(page_test("pages/mnist.py", timeout=120)), "Evaluate")
    assert not at.exception, [e.value for e in at.exception]
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert any("还没有训练好的模型" in info.value for info in at.info)
    assert any(b.label.startswith("训练快速模型") for b in at.button)


def test_the_trained_model_and_its_evaluation_read_in_chinese(trained_page):
    at = _open(_in_chinese(trained_page), "Train")
    assert not at.exception, [e.value for e in at.exception]
    assert chinese_share(visible_text(at)) > 0.8, visible_text(at)
    metrics = {m.label: m for m in at.metric}
    assert metrics["已训练轮次"].value == "1"
    assert metrics["已训练轮次"].proto.help == "保留的权重：第 1 轮，即最后一轮（训练完整跑完）。"
    assert any(c.value.startswith("当前使用的模型") for c in at.caption)
    loss = _spec(at, "mnist_live_loss")
    assert loss["layout"]["title"]["text"] == "损失（越低越好）"
    assert loss["layout"]["xaxis"]["title"]["text"] == "训练轮次"
    assert {t["name"] for t in loss["data"]} <= {
        "训练（逐批量的滑动值）",
        "训练（每轮结束时）",
        "验证（每轮结束时）",
    }

    at = _open(at, "Evaluate")
    assert not at.exception, [e.value for e in at.exception]
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert {"测试准确率", "测试损失", "错误数"} <= {m.label for m in at.metric}
    confusion = _spec(at, "mnist_confusion")
    assert confusion["layout"]["xaxis"]["title"]["text"] == "预测的数字"
    assert confusion["layout"]["yaxis"]["title"]["text"] == "真实的数字"
    assert confusion["data"][1]["hovertemplate"].startswith("真实 %{y}，预测 %{x}")
    table = at.dataframe[0].value
    assert list(table.columns) == ["数字", "精确率", "召回率", "F1", "测试图像数"]
    assert any(r"\text{精确率}" in formula.value for formula in at.latex)
    grid = [c for image in at.image for c in image.captions if c.startswith("预测：")]
    assert len(grid) == 25
    at.session_state["language"] = "en"
    at.run()  # the shared session goes back to English for the other tests
