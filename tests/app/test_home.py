"""Home renders without TensorFlow and its loop diagram responds to clicks.

The click on a box itself is tested in a real browser (tests/e2e/test_home_e2e.py):
AppTest cannot click inside a Plotly chart.
"""

import json
import re
import subprocess
import sys

from dlcore import i18n
from tests.app.conftest import REPO, page_test
from tests.support.i18n import chinese_share, visible_text


def test_home_renders_and_step_selection_changes_the_explanation():
    at = page_test("app.py").run()
    assert not at.exception
    assert at.title[0].value.endswith("Deep Learning Playground")
    first = at.info[0].value
    at.segmented_control(key="home_step").set_value("Loss").run()
    assert not at.exception
    assert at.info[0].value != first
    assert "how wrong" in at.info[0].value


def _loop_boxes(at) -> dict:
    (chart,) = at.get("plotly_chart")
    assert "home_loop" in chart.proto.id
    return json.loads(chart.proto.spec)["data"][0]


def test_the_loop_diagram_has_one_clickable_box_per_step_and_colours_the_chosen_one():
    at = page_test("app.py").run()
    steps = ["Input", "Hidden layers", "Output", "Loss", "Backpropagation", "Weight update"]
    boxes = _loop_boxes(at)
    assert boxes["type"] == "bar" and boxes["customdata"] == steps  # what a click reports
    assert boxes["marker"]["color"][0] == "#e4572e"  # Input is chosen at first
    at.segmented_control(key="home_step").set_value("Backpropagation").run()
    colours = _loop_boxes(at)["marker"]["color"]
    assert [c == "#e4572e" for c in colours] == [s == "Backpropagation" for s in steps]
    assert not at.exception and not at.warning  # no "default and Session State" warning


def test_home_glossary_names_every_required_term():
    at = page_test("app.py").run()
    text = " ".join(md.value for md in at.markdown)
    for term in (
        "Neural network",
        "Layer",
        "Activation function",
        "Weights and biases",
        "Forward propagation",
        "Backpropagation",
        "Loss function",
        "Optimizer",
        "Supervised learning",
        "Unsupervised learning",
        "CNN",
    ):
        assert f"**{term}**" in text


def test_home_does_not_import_tensorflow():
    code = (
        "from tests.app.conftest import page_test\n"
        "import sys\n"
        "at = page_test('app.py').run()\n"
        "assert not at.exception\n"
        "print('tensorflow' in sys.modules)\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip().endswith("False")


def test_the_backpropagation_step_leads_to_the_forward_and_backward_lesson():
    at = page_test("app.py").run()
    at.segmented_control(key="home_step").set_value("Backpropagation").run()
    links = [link.proto.label for link in at.get("page_link")]
    assert links[0] == "Explore it: Forward & backward", links


def _home(language: str | None = None):
    at = page_test("app.py")
    if language is not None:
        at.session_state["language"] = language
    at.run()
    assert not at.exception, at.exception
    return at


def _glossary_lines(at) -> list[str]:
    """The glossary's entries: '**term** (other) — meaning', in either language."""
    entry = re.compile(r"\*\*[^*]+\*\* ?[(（][^)）]+[)）] ?(—|——)")
    return [md.value for md in at.markdown if entry.match(md.value)]


def test_home_reads_in_chinese_with_the_english_term_where_a_term_first_appears():
    at = _home("zh")
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert at.title[0].value == "🧠 深度学习游乐场"
    assert "**深度学习**（deep learning）" in at.markdown[0].value
    assert "*神经网络*（neural network）" in at.markdown[0].value
    # The widget holds stable keys and shows Chinese labels. AppTest formats the value it
    # sends with the widget's format_func in this thread, outside the session: in Chinese.
    with i18n.using("zh"):
        at.segmented_control(key="home_step").set_value("Loss").run()
    assert not at.exception
    assert at.info[0].value.startswith("**损失函数**。") and "交叉熵（cross-entropy）" in (
        at.info[0].value
    )
    assert _loop_boxes(at)["customdata"][3] == "Loss"  # what a click reports stays the key
    assert _loop_boxes(at)["text"][3] == "<b>损失函数</b>"  # what the learner reads
    links = [link.proto.label for link in at.get("page_link")]
    assert "去探索：损失函数" in links and "打开“回归”" in links


def test_the_glossary_shows_both_terms_in_either_language_from_the_term_table():
    from dlcore.i18n import terms

    table = {row["english"]: row["chinese"] for row in terms()}
    english, chinese = _glossary_lines(_home("en")), _glossary_lines(_home("zh"))
    assert len(english) == len(chinese) == 11
    assert english[0].startswith(f"**Neural network** ({table['neural network']}) — ")
    assert chinese[0].startswith(f"**{table['neural network']}**（Neural network）——")
    assert english[3].startswith("**Weights and biases** (权重和偏置) — ")
    assert chinese[-1].startswith("**卷积神经网络**（CNN）——")  # not 卷积神经网络（CNN）（CNN）
    assert chinese_share("\n".join(chinese)) > 0.8


def test_home_in_english_has_no_chinese_but_the_glossarys_chinese_terms():
    at = _home()  # English: no language chosen yet
    glossary = _glossary_lines(at)
    rest = [line for line in visible_text(at).splitlines() if line not in glossary]
    rest = [line.replace("《思想的深度：从概念到洞见》", "") for line in rest]  # its own title
    assert rest and chinese_share("\n".join(rest)) == 0
    for line in glossary:  # the only Chinese: each term's 中文 name, in parentheses
        assert chinese_share(line.split(") — ")[1]) == 0


def test_home_names_the_tutorial_and_maps_its_sections_to_the_lessons():
    english, chinese = _home(), _home("zh")
    assert any("《思想的深度：从概念到洞见》" in md.value for md in english.markdown)
    assert any("中文教程《思想的深度：从概念到洞见》" in md.value for md in chinese.markdown)
    links = {link.proto.label: link.proto.page for link in english.get("page_link")}
    assert links["§2.3 Activation functions → Activations"].endswith("activations")
    assert links["§4.2.2 Cross-entropy → MNIST CNN"].endswith("mnist")
    labels = [link.proto.label for link in chinese.get("page_link")]
    assert "§2.5 前向传播和反向传播 → 课程“前向传播和反向传播”" in labels
    assert "§4.1.2 优化算法 → 课程“优化器”" in labels
