"""MNIST Explore, Look inside and Read my digit through AppTest: one drawing convention on
Explore (0 = background drawn black, 255 = full ink drawn white) in every image, table and
caption; every probability bar labelled, the winner's value written by dlcore.readable."""

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from dlcore import data as datasets
from dlcore import i18n, images, jobs, readable
from dlcore import mnist_views as views
from dlcore.configs import MnistConfig
from dlcore.i18n import _
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text
from ui.mnist.digit import probability_figure

TINY = MnistConfig(epochs=1, train_size=500, validation_size=200)
DIGITS = [str(d) for d in range(10)]


def _open(at, tab: str):
    at.session_state["mnist_tab"] = tab
    return at.run()


def _chart(at, key: str) -> dict:
    """The Plotly spec of the chart with this key."""
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def _typed_array(value) -> np.ndarray:
    """A Plotly JSON array, plain or base64-typed ({"dtype", "bdata", "shape"})."""
    if not isinstance(value, dict):
        return np.asarray(value)
    flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    shape = [int(n) for n in str(value.get("shape", flat.size)).split(",")]
    return flat.reshape(shape)


def _percent(share: float) -> str:
    return f"{readable.number(100 * share)} %"


def _assert_bars_show(spec: dict, probabilities: np.ndarray) -> None:
    """All ten digits labelled; only the winner carries text, its probability in readable form."""
    assert spec["layout"]["xaxis"]["type"] == "category"
    assert spec["layout"]["xaxis"]["tickvals"] == DIGITS
    (bars,) = spec["data"]
    winner = int(np.argmax(probabilities))
    expected = ["" for _ in DIGITS]
    expected[winner] = _percent(float(probabilities[winner]))
    assert bars["text"] == expected
    assert spec["layout"]["yaxis"]["range"][1] > 1  # room above a bar at 1 for its value
    assert spec["layout"]["yaxis"]["exponentformat"] == "power"


def test_probability_bars_label_all_ten_digits_and_write_the_winners_value():
    probabilities = np.array([0.01, 0.02, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.137, 0.733])
    spec = probability_figure(probabilities, "title").to_dict()
    _assert_bars_show(spec, probabilities)
    assert spec["data"][0]["text"][9] == "73.3 %"
    assert spec["data"][0]["customdata"][2] == "0 %"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny trained model in this process's job registry; returns its session-state entry."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DLCORE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    handle = jobs.submit(TINY)
    assert handle.wait(300), "the tiny training did not finish"
    yield {"key": handle.key, "config": TINY}
    mp.undo()


def _with_model(tab: str, entry: dict):
    at = page_test("pages/mnist.py", timeout=120)
    at.session_state["mnist_model"] = entry
    return _open(at, tab)


def _photo_of_test_digit(index: int) -> bytes:
    """A test digit as a photo shows it: dark ink on light paper, larger, as PNG."""
    (_, _), (x_test, _) = datasets.load_mnist()
    ink = np.asarray(Image.fromarray(x_test[index]).resize((140, 140), Image.Resampling.BICUBIC))
    buffer = io.BytesIO()
    Image.fromarray(np.pad(255 - ink, 40, constant_values=255)).save(buffer, format="PNG")
    return buffer.getvalue()


def _model_probabilities(entry: dict, digit: np.ndarray) -> np.ndarray:
    model = jobs.get(entry["key"]).result().model
    return np.asarray(model.predict_on_batch(digit[None]), dtype=np.float64)[0]


def test_read_my_digit_labels_every_bar_and_writes_the_readings_in_readable_form(tiny_model):
    at = _with_model("Read my digit", tiny_model)
    assert at.radio(key="mnist_digit_source").options == ["Upload a photo", "Draw it"]
    photo = _photo_of_test_digit(1)
    at.file_uploader(key="mnist_upload").set_value(("two.png", photo, "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    probabilities = _model_probabilities(tiny_model, images.prepare_digit(photo).uint8)
    _assert_bars_show(_chart(at, "mnist_digit_probs"), probabilities)
    top3 = np.argsort(-probabilities, kind="stable")[:3]
    shown = " · ".join(f"{d}: {_percent(float(probabilities[d]))}" for d in top3)
    assert shown in [c.value for c in at.caption]


def test_look_inside_labels_every_bar_of_the_softmax(tiny_model):
    at = _with_model("Look inside", tiny_model)
    at.number_input(key="mnist_inside_index").set_value(3).run()
    assert not at.exception, [e.value for e in at.exception]
    (_, _), (x_test, _) = datasets.load_mnist()
    probabilities = _model_probabilities(tiny_model, x_test[3])
    spec = _chart(at, "mnist_inside_softmax")
    _assert_bars_show(spec, probabilities)
    winner = int(np.argmax(probabilities))
    assert spec["layout"]["title"]["text"] == f"Softmax output: the network says {winner}"


# ------------------------------------------------------------------------------------------
# Explore: one convention
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explore():
    at = page_test("pages/mnist.py", timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _shown_texts(at) -> list[str]:
    return [e.value for e in (*at.markdown, *at.caption)]


def test_explore_states_the_convention_once_and_no_text_contradicts_it(explore):
    texts = _shown_texts(explore)
    convention = [t for t in texts if "drawn black" in t]
    assert len(convention) == 1
    assert "0 (background, drawn black) to 255 (full ink, drawn white)" in convention[0]
    colour_claims = re.compile(r"\((black|white)\)|= ?(black|white)|light on dark", re.I)
    assert [t for t in texts if colour_claims.search(t)] == []
    hist = _chart(explore, "mnist_pixel_hist")
    assert (
        hist["layout"]["xaxis"]["title"]["text"] == "pixel value (0 = background, 255 = full ink)"
    )
    assert "scans of handwritten digits" in " ".join(texts)
    assert "photos of handwritten digits" not in " ".join(texts)


def test_the_first_figure_draws_each_value_as_its_gray_level(explore):
    (x_train, _), _ = datasets.load_mnist()
    spec = _chart(explore, "mnist_first_figure")
    assert np.array_equal(_typed_array(spec["data"][0]["z"]), x_train[0])
    axis = spec["layout"]["coloraxis"]
    assert (axis["cmin"], axis["cmax"]) == (0, 255)
    scale = axis["colorscale"]
    assert scale[0][1] == "rgb(0, 0, 0)" and scale[-1][1] == "rgb(255, 255, 255)"


def test_the_sample_grid_shows_the_stored_values_as_gray_levels(explore):
    (x_train, y_train), _ = datasets.load_mnist()
    source = _chart(explore, "mnist_sample_grid")["data"][0]["source"]
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))))
    picked = views.samples_by_class(y_train, 12, 0)
    expected = views.tile(x_train[picked.ravel()], columns=12, gap=2, fill=90)
    assert np.array_equal(shown if shown.ndim == 2 else shown[..., 0], expected)


def _cell_backgrounds(styles: str) -> dict[tuple[int, int], int]:
    """(row, col) -> gray level of the cell's CSS background, from a Styler's style sheet."""
    shades = {}
    for selectors, level in re.findall(r"([^{}]+)\{ background-color: rgb\((\d+), ", styles):
        for row, col in re.findall(r"row(\d+)_col(\d+)", selectors):
            shades[int(row), int(col)] = int(level)
    return shades


def _display_values(table) -> list[list[str]]:
    import pyarrow as pa

    styler = table.proto.arrow_data.styler
    frame = pa.ipc.open_stream(styler.display_values).read_all().to_pandas()
    return frame.astype(str).values.tolist()


def test_patch_tables_show_all_six_columns_shaded_like_the_picture(explore):
    (x_train, _), _ = datasets.load_mnist()
    top, left = views.ink_window(x_train[0], 6)
    patch = x_train[0][top : top + 6, left : left + 6]
    raw, normalized = explore.table
    for table in (raw, normalized):
        assert list(table.value.columns) == [str(c) for c in range(left, left + 6)]
        assert list(table.value.index) == [str(r) for r in range(top, top + 6)]
        shades = _cell_backgrounds(table.proto.arrow_data.styler.styles)
        assert shades == {(r, c): int(patch[r, c]) for r in range(6) for c in range(6)}
    assert _display_values(raw) == [[str(v) for v in row] for row in patch]
    assert _display_values(normalized) == [[readable.number(v / 255) for v in row] for row in patch]
    (outline,) = _chart(explore, "mnist_first_figure")["layout"]["shapes"]
    assert (outline["x0"], outline["y0"]) == (left - 0.5, top - 0.5)
    assert (outline["x1"], outline["y1"]) == (left + 5.5, top + 5.5)


def test_explore_numbers_are_written_by_readable(explore):
    (x_train, _), _ = datasets.load_mnist()
    metrics = {m.label: m.value for m in explore.metric}
    assert metrics["Black background pixels"] == _percent(float((x_train == 0).mean()))
    assert metrics["Standard deviation"] == readable.number(float(x_train.std(dtype=np.float64)))
    balance = _chart(explore, "mnist_balance")["layout"]["yaxis"]
    assert balance["exponentformat"] == "power" and balance["separatethousands"]


# ------------------------------------------------------------------------------------------
# 简体中文: every tab of this area reads in Chinese, and in English none of it is Chinese
# ------------------------------------------------------------------------------------------


def _in_chinese(at):
    at.session_state["language"] = "zh"
    return at


def test_explore_reads_in_chinese_and_in_english_has_no_chinese(explore):
    assert chinese_share(visible_text(explore)) == 0
    at = _in_chinese(page_test("pages/mnist.py", timeout=120)).run()
    assert not at.exception, [e.value for e in at.exception]
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert "归一化（normalization）" not in text  # bold first: **归一化**（normalization）
    assert "**标签**（label）" in text and "**归一化**（normalization）" in text
    with i18n.using("zh"):
        expected = _("Class balance: images of each digit")
        histogram_axis = _("pixel value (0 = background, 255 = full ink)")
        legend = {_("training"), _("test")}
    balance = _chart(at, "mnist_balance")
    assert balance["layout"]["title"]["text"] == expected == "类别均衡：每个数字的图像数"
    assert {trace["name"] for trace in balance["data"]} == legend == {"训练集", "测试集"}
    hist = _chart(at, "mnist_pixel_hist")
    assert hist["layout"]["xaxis"]["title"]["text"] == histogram_axis
    assert [m.label for m in at.metric][:2] == ["平均亮度", "标准差"]
    assert any(r"\text{归一化后}" in formula.value for formula in at.latex)


def test_look_inside_reads_in_chinese(tiny_model):
    at = page_test("pages/mnist.py", timeout=120)
    at.session_state["mnist_model"] = tiny_model
    at = _open(_in_chinese(at), "Look inside")
    assert not at.exception, [e.value for e in at.exception]
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert at.radio(key="mnist_inside_source").options == ["一张测试图像"]
    assert "**conv1** — " in text and "的特征图。第一层的每个卷积核（filter）" in text
    hover = _chart(at, "mnist_filters")["data"][0]["hovertemplate"]
    assert hover == "第 %{y} 行，第 %{x} 列：%{z}<extra></extra>"
    spec = _chart(at, "mnist_inside_softmax")
    assert spec["layout"]["title"]["text"].startswith("Softmax 输出：网络认为是 ")
    assert spec["layout"]["xaxis"]["title"]["text"] == "数字"


def test_look_inside_in_english_has_no_chinese(tiny_model):
    at = _with_model("Look inside", tiny_model)
    assert not at.exception, [e.value for e in at.exception]
    assert chinese_share(visible_text(at)) == 0


def test_read_my_digit_reads_in_chinese_down_to_the_stages_and_the_bars(tiny_model):
    at = page_test("pages/mnist.py", timeout=120)
    at.session_state["mnist_model"] = tiny_model
    at = _open(_in_chinese(at), "Read my digit")
    assert at.radio(key="mnist_digit_source").options == ["上传照片", "自己画"]
    at.file_uploader(key="mnist_upload").set_value(
        ("two.png", _photo_of_test_digit(1), "image/png")
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    spec = _chart(at, "mnist_digit_probs")
    assert spec["layout"]["title"]["text"] == "网络给出的概率（softmax 输出）"
    assert spec["layout"]["yaxis"]["title"]["text"] == "概率"
    assert spec["data"][0]["hovertemplate"] == "数字 %{x}：%{customdata}<extra></extra>"
    assert [m.label for m in at.metric] == ["我认出的是"]


def test_read_my_digit_in_english_has_no_chinese(tiny_model):
    at = _with_model("Read my digit", tiny_model)
    at.file_uploader(key="mnist_upload").set_value(
        ("two.png", _photo_of_test_digit(1), "image/png")
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert chinese_share(visible_text(at)) == 0


def test_an_unreadable_upload_is_refused_in_chinese():
    at = _open(_in_chinese(page_test("pages/mnist.py", timeout=120)), "Read my digit")
    at.file_uploader(key="mnist_upload").set_value(("empty.png", b"", "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == ["无法读取这张图像：文件是空的。"]
