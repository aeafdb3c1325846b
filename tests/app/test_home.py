"""Home renders without TensorFlow and its loop diagram responds to clicks.

The click on a box itself is tested in a real browser (tests/e2e/test_home_e2e.py):
AppTest cannot click inside a Plotly chart.
"""

import json
import subprocess
import sys

from tests.app.conftest import REPO, page_test


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
