"""Home: what deep learning is, the training loop as a diagram, a glossary, and the lessons.

This page must load fast, so it never imports TensorFlow (nor anything that does).
"""

import streamlit as st

from ui.catalog import listed_lessons
from ui.plain_figure import PlainFigure
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

# Each step of the training loop: what happens there, and which lesson explores it.
LOOP_STEPS = {
    "Input": (
        "Examples enter the network as numbers: a house's area, or the 784 pixels of a digit. "
        "They are first scaled to a small range (normalization) so training is stable.",
        ["pages/regression.py", "pages/mnist.py"],
    ),
    "Hidden layers": (
        "Each layer computes weighted sums of its inputs plus a bias, then bends them with an "
        "activation function. Without that bend, any stack of layers is just one straight line.",
        ["pages/activations.py"],
    ),
    "Output": (
        "The last layer gives the prediction: a price (one linear unit) or ten class "
        "probabilities (softmax).",
        ["pages/activations.py", "pages/mnist.py"],
    ),
    "Loss": (
        "A single number that says how wrong the predictions are: mean squared error for "
        "prices, cross-entropy for classes. Training means making it small.",
        ["pages/losses.py"],
    ),
    "Backpropagation": (
        "The chain rule, applied layer by layer from the loss back to every weight, gives the "
        "gradient: which way each weight should move to reduce the loss. Activations whose "
        "derivative is tiny make this signal vanish.",
        ["pages/backprop.py", "pages/activations.py"],
    ),
    "Weight update": (
        "The optimizer moves every weight a small step against its gradient "
        "(gradient descent), or a smarter step (momentum, RMSprop, Adam). Then the loop repeats.",
        ["pages/backprop.py", "pages/optimizers.py"],
    ),
}

GLOSSARY = {
    "Neural network": "A function built from many simple units (neurons) in layers; each unit "
    "multiplies its inputs by weights, adds a bias and applies an activation.",
    "Layer": "A group of units that all read the previous layer's output: the input layer, "
    "hidden layers in between, and the output layer.",
    "Activation function": "The non-linear bend applied by each unit (sigmoid, tanh, ReLU…). "
    "It is what lets a network model curves rather than only straight lines.",
    "Weights and biases": "The numbers the network learns. A weight says how much an input "
    "matters; a bias shifts the unit's threshold.",
    "Forward propagation": "Computing the prediction: data flows from the input layer through "
    "the hidden layers to the output.",
    "Backpropagation": "Computing the gradient of the loss with respect to every weight, by the "
    "chain rule from the output back to the input.",
    "Loss function": "How wrong the prediction is, as one number: e.g. mean squared error (MSE) "
    "or cross-entropy.",
    "Optimizer": "The rule that turns gradients into weight updates: gradient descent, "
    "momentum, RMSprop, Adam…",
    "Supervised learning": "Learning from examples that come with the right answer (labels), "
    "like digits labelled 0–9 or houses with their sale price.",
    "Unsupervised learning": "Finding structure in data without labels, such as clusters or a "
    "compressed representation.",
    "CNN": "A convolutional neural network: layers of small filters slide over an image to "
    "detect edges, then strokes, then shapes; the standard model for images.",
}


def loop_diagram(selected: str) -> dict:
    """The training loop as a Plotly figure spec: one clickable bar per step, in order.

    Bars, not Graphviz boxes: a bar is a Plotly point, so a click on it selects it and
    st.plotly_chart reports which one (its customdata is the step's name).
    """
    steps = list(LOOP_STEPS)
    chosen = [step == selected for step in steps]
    boxes = {
        "type": "bar",
        "x": list(range(len(steps))),
        "y": [1] * len(steps),
        "width": 0.74,
        "customdata": steps,
        "text": [f"<b>{step}</b>" if on else step for step, on in zip(steps, chosen, strict=True)],
        "textposition": "inside",
        "insidetextanchor": "middle",
        "textangle": 0,
        "textfont": {"size": 15, "color": ["white" if on else "black" for on in chosen]},
        "marker": {
            "color": ["#e4572e" if on else "#f3f0ea" for on in chosen],
            "line": {"color": "#444", "width": 1.5},
        },
        "hovertemplate": "%{customdata}: click for its explanation<extra></extra>",
        # A click must not grey out the other boxes: the colour says which step is chosen.
        "selected": {"marker": {"opacity": 1}},
        "unselected": {"marker": {"opacity": 1}},
    }
    return {"data": [boxes], "layout": _loop_layout(len(steps))}


def _loop_layout(count: int) -> dict:
    """Arrows from each box to the next, a dashed "next batch" arc back, no axes."""
    arrow = {"showarrow": True, "arrowhead": 2, "arrowsize": 1.3, "arrowwidth": 1.5, "text": ""}
    arrows = [
        {**arrow, "x": i + 0.63, "y": 0.5, "ax": i + 0.37, "ay": 0.5, "axref": "x", "ayref": "y"}
        for i in range(count - 1)
    ]
    back = {**arrow, "x": 0, "y": 0, "ax": 0, "ay": -0.3, "axref": "x", "ayref": "y"}
    label = {
        "x": (count - 1) / 2,
        "y": -0.5,
        "yshift": -12,
        "text": "next batch",
        "showarrow": False,
    }
    arc = {
        "type": "path",
        "path": f"M {count - 1},0 Q {count - 1},-0.5 {count - 1.5},-0.5 L 0.5,-0.5 Q 0,-0.5 0,-0.3",
        "line": {"dash": "dash", "width": 1.5, "color": "#444"},
    }
    hidden = {"visible": False, "fixedrange": True}
    return {
        "height": 190,
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "xaxis": {**hidden, "range": [-0.45, count - 0.55]},
        "yaxis": {**hidden, "range": [-0.75, 1.05]},
        "annotations": [*arrows, back, label],
        "shapes": [arc],
        "showlegend": False,
        "clickmode": "event+select",
        "dragmode": False,
    }


def show_clicked_step() -> None:
    """A click on a box of the diagram chooses its step, as its button above does."""
    points = st.session_state.home_loop.selection.points
    if points:  # a second click on the chosen box unselects it: the step stays
        st.session_state.home_step = points[0]["customdata"]


st.title("🧠 Deep Learning Playground")
st.markdown(
    "**Deep learning** is a way of teaching computers from examples. A *neural network* — "
    "layers of simple units joined by adjustable *weights* — makes a prediction, measures how "
    "wrong it was with a *loss*, and nudges every weight to be a little less wrong. Repeat that "
    "loop thousands of times and the network learns to price a house or read handwriting. "
    "Here every chart is computed live by TensorFlow, so you can poke at each piece and watch "
    "it respond."
)

st.header("The training loop")
st.session_state.setdefault("home_step", "Input")  # not default=: a click also sets it
step = st.segmented_control("Click a step of the loop", list(LOOP_STEPS), key="home_step")
step = step or "Input"
st.plotly_chart(
    PlainFigure(loop_diagram(step)),
    key="home_loop",
    on_select=show_clicked_step,
    selection_mode="points",
    config={"displayModeBar": False},
)
text, targets = LOOP_STEPS[step]
st.info(f"**{step}.** {text}")
live = {p.path: p for p in listed_lessons()}
for target in targets:
    if target in live:
        st.page_link(target, label=f"Explore it: {live[target].title}", icon=live[target].icon)

st.header("Lessons")
lessons = listed_lessons()
if lessons:
    columns = st.columns(min(3, len(lessons)))
    for index, lesson in enumerate(lessons):
        with columns[index % len(columns)].container(border=True):
            st.subheader(f"{lesson.icon} {lesson.title}")
            st.write(lesson.blurb)
            st.page_link(lesson.path, label=f"Open {lesson.title}", icon="➡️")
else:
    st.caption("The lessons are being built; this page lists each one as it goes live.")

st.header("Glossary")
for term, meaning in GLOSSARY.items():
    st.markdown(f"**{term}** — {meaning}")
