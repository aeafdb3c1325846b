"""Home: what deep learning is, the training loop as a diagram, a glossary, and the lessons.

This page must load fast, so it never imports TensorFlow (nor anything that does).
"""

import streamlit as st

from dlcore import i18n
from dlcore.i18n import N_, _
from ui.catalog import TUTORIAL, TUTORIAL_MAP, listed_lessons
from ui.plain_figure import PlainFigure
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

# Each step of the training loop: what happens there, and which lesson explores it. The
# keys are the steps' stable ids (widget values, the diagram's customdata) and, through the
# catalogue, their labels.
LOOP_STEPS = {
    N_("Input"): (
        N_(
            "Examples enter the network as numbers: a house's area, or the 784 pixels of a "
            "digit. They are first scaled to a small range (normalization) so training is stable."
        ),
        ["pages/regression.py", "pages/mnist.py"],
    ),
    N_("Hidden layers"): (
        N_(
            "Each layer computes weighted sums of its inputs plus a bias, then bends them with an "
            "activation function. Without that bend, any stack of layers is just one straight "
            "line."
        ),
        ["pages/activations.py"],
    ),
    N_("Output"): (
        N_(
            "The last layer gives the prediction: a price (one linear unit) or ten class "
            "probabilities (softmax)."
        ),
        ["pages/activations.py", "pages/mnist.py"],
    ),
    N_("Loss"): (
        N_(
            "A single number that says how wrong the predictions are: mean squared error for "
            "prices, cross-entropy for classes. Training means making it small."
        ),
        ["pages/losses.py"],
    ),
    N_("Backpropagation"): (
        N_(
            "The chain rule, applied layer by layer from the loss back to every weight, gives the "
            "gradient: which way each weight should move to reduce the loss. Activations whose "
            "derivative is tiny make this signal vanish."
        ),
        ["pages/backprop.py", "pages/activations.py"],
    ),
    N_("Weight update"): (
        N_(
            "The optimizer moves every weight a small step against its gradient "
            "(gradient descent), or a smarter step (momentum, RMSprop, Adam). Then the loop "
            "repeats."
        ),
        ["pages/backprop.py", "pages/optimizers.py"],
    ),
}

# The glossary (英汉术语对照): each term in English and in the tutorial's Chinese, whichever
# language the page is read in. Its rows of dlcore/locales/terms.csv (the term table
# translators follow) give the Chinese; a term the table lacks uses the catalogue's.
GLOSSARY = [
    (
        N_("Neural network"),
        ("neural network",),
        N_(
            "A function built from many simple units (neurons) in layers; each unit multiplies "
            "its inputs by weights, adds a bias and applies an activation."
        ),
    ),
    (
        N_("Layer"),
        ("layer",),
        N_(
            "A group of units that all read the previous layer's output: the input layer, "
            "hidden layers in between, and the output layer."
        ),
    ),
    (
        N_("Activation function"),
        ("activation function",),
        N_(
            "The non-linear bend applied by each unit (sigmoid, tanh, ReLU…). It is what lets "
            "a network model curves rather than only straight lines."
        ),
    ),
    (
        N_("Weights and biases"),
        ("weight", "bias"),
        N_(
            "The numbers the network learns. A weight says how much an input matters; a bias "
            "shifts the unit's threshold."
        ),
    ),
    (
        N_("Forward propagation"),
        ("forward propagation",),
        N_(
            "Computing the prediction: data flows from the input layer through the hidden "
            "layers to the output."
        ),
    ),
    (
        N_("Backpropagation"),
        ("backpropagation",),
        N_(
            "Computing the gradient of the loss with respect to every weight, by the chain rule "
            "from the output back to the input."
        ),
    ),
    (
        N_("Loss function"),
        ("loss function",),
        N_(
            "How wrong the prediction is, as one number: e.g. mean squared error (MSE) or "
            "cross-entropy."
        ),
    ),
    (
        N_("Optimizer"),
        ("optimizer",),
        N_(
            "The rule that turns gradients into weight updates: gradient descent, momentum, "
            "RMSprop, Adam…"
        ),
    ),
    (
        N_("Supervised learning"),
        ("supervised learning",),
        N_(
            "Learning from examples that come with the right answer (labels), like digits "
            "labelled 0–9 or houses with their sale price."
        ),
    ),
    (
        N_("Unsupervised learning"),
        (),
        N_(
            "Finding structure in data without labels, such as clusters or a compressed "
            "representation."
        ),
    ),
    (
        N_("CNN"),
        ("convolutional neural network (CNN)",),
        N_(
            "A convolutional neural network: layers of small filters slide over an image to "
            "detect edges, then strokes, then shapes; the standard model for images."
        ),
    ),
]


def chinese_term(term: str, rows: tuple[str, ...]) -> str:
    """The tutorial's Chinese for a glossary term: its rows of the term table, else the
    catalogue's translation of the term."""
    table = {row["english"]: row["chinese"] for row in i18n.terms()}
    if rows and all(row in table for row in rows):
        chinese = "和".join(table[row] for row in rows)
    else:
        with i18n.using("zh"):
            chinese = _(term)
    return chinese.removesuffix(f"（{term}）")  # 卷积神经网络（CNN） next to CNN: once is enough


def glossary_line(term: str, rows: tuple[str, ...], meaning: str) -> str:
    """One glossary entry, the term in both languages: the reader's first."""
    chinese = chinese_term(term, rows)
    if i18n.current_language() == "zh":
        return _("**{term}** ({other}) — {meaning}", term=chinese, other=term, meaning=_(meaning))
    return _("**{term}** ({other}) — {meaning}", term=term, other=chinese, meaning=_(meaning))


def loop_diagram(selected: str) -> dict:
    """The training loop as a Plotly figure spec: one clickable bar per step, in order.

    Bars, not Graphviz boxes: a bar is a Plotly point, so a click on it selects it and
    st.plotly_chart reports which one (its customdata is the step's name).
    """
    steps = list(LOOP_STEPS)
    labels = [_(step) for step in steps]
    chosen = [step == selected for step in steps]
    boxes = {
        "type": "bar",
        "x": list(range(len(steps))),
        "y": [1] * len(steps),
        "width": 0.74,
        "customdata": steps,
        "text": [
            f"<b>{label}</b>" if on else label for label, on in zip(labels, chosen, strict=True)
        ],
        "hovertext": labels,
        "textposition": "inside",
        "insidetextanchor": "middle",
        "textangle": 0,
        "textfont": {"size": 15, "color": ["white" if on else "black" for on in chosen]},
        "marker": {
            "color": ["#e4572e" if on else "#f3f0ea" for on in chosen],
            "line": {"color": "#444", "width": 1.5},
        },
        "hovertemplate": _("{step}: click for its explanation", step="%{hovertext}")
        + "<extra></extra>",
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
        "text": _("next batch"),
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


st.title(_("🧠 Deep Learning Playground"))
st.markdown(
    _(
        "**Deep learning** is a way of teaching computers from examples. A *neural network* — "
        "layers of simple units joined by adjustable *weights* — makes a prediction, measures "
        "how wrong it was with a *loss*, and nudges every weight to be a little less wrong. "
        "Repeat that loop thousands of times and the network learns to price a house or read "
        "handwriting. Here every chart is computed live by TensorFlow, so you can poke at each "
        "piece and watch it respond."
    )
)

st.header(_("The training loop"))
st.session_state.setdefault("home_step", "Input")  # not default=: a click also sets it
step = st.segmented_control(
    _("Click a step of the loop"), list(LOOP_STEPS), format_func=_, key="home_step"
)
step = step or "Input"
st.plotly_chart(
    PlainFigure(loop_diagram(step)),
    key="home_loop",
    on_select=show_clicked_step,
    selection_mode="points",
    config={"displayModeBar": False},
)
text, targets = LOOP_STEPS[step]
st.info(_("**{step}.** {explanation}", step=_(step), explanation=_(text)))
live = {p.path: p for p in listed_lessons()}
for target in targets:
    if target in live:
        label = _("Explore it: {lesson}", lesson=_(live[target].title))
        st.page_link(target, label=label, icon=live[target].icon)

st.header(_("Lessons"))
lessons = listed_lessons()
if lessons:
    columns = st.columns(min(3, len(lessons)))
    for index, lesson in enumerate(lessons):
        with columns[index % len(columns)].container(border=True):
            st.subheader(lesson.icon + " " + _(lesson.title))
            st.write(_(lesson.blurb))
            st.page_link(lesson.path, label=_("Open {lesson}", lesson=_(lesson.title)), icon="➡️")
else:
    st.caption(_("The lessons are being built; this page lists each one as it goes live."))

st.header(_("The tutorial, lesson by lesson"))
st.markdown(
    _(
        "This playground grew from the Chinese tutorial 《{title}》. Each of its sections "
        "below opens the lesson that explores it.",
        title=TUTORIAL,
    )
)
for section, heading, target in TUTORIAL_MAP:
    if target in live:
        label = _(
            "§{section} {heading} → {lesson}",
            section=section,
            heading=_(heading),
            lesson=_(live[target].title),
        )
        st.page_link(target, label=label, icon=live[target].icon)

st.header(_("Glossary: English and Chinese terms"))
for term, rows, meaning in GLOSSARY:
    st.markdown(glossary_line(term, rows, meaning))
