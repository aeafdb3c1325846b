"""Home: what deep learning is, the training loop as a diagram, a glossary, and the lessons.

This page must load fast, so it never imports TensorFlow (nor anything that does).
"""

import streamlit as st

from ui.catalog import listed_lessons
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
        ["pages/activations.py", "pages/losses.py"],
    ),
    "Weight update": (
        "The optimizer moves every weight a small step against its gradient "
        "(gradient descent), or a smarter step (momentum, RMSprop, Adam). Then the loop repeats.",
        ["pages/optimizers.py"],
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


def loop_diagram(selected: str) -> str:
    """The training loop as Graphviz DOT, the selected step highlighted."""
    steps = list(LOOP_STEPS)

    def node(step: str) -> str:
        fill, font = ("#e4572e", "white") if step == selected else ("#f3f0ea", "black")
        return (
            f'"{step}" [style="filled,rounded", shape=box, fillcolor="{fill}", fontcolor="{font}"];'
        )

    nodes = "\n".join(node(step) for step in steps)
    edges = " -> ".join(f'"{s}"' for s in steps)
    return (
        "digraph loop { rankdir=LR; bgcolor=transparent; node [fontname=Helvetica];\n"
        f"{nodes}\n{edges};\n"
        '"Weight update" -> "Input" [style=dashed, label="  next batch", constraint=false];\n}'
    )


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
step = st.segmented_control(
    "Click a step of the loop", list(LOOP_STEPS), default="Input", key="home_step"
)
step = step or "Input"
st.graphviz_chart(loop_diagram(step), width="stretch")
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
