"""MNIST CNN: explore the digits, train the tutorial's network live, evaluate it, look
inside it, and let it read your own handwriting."""

import streamlit as st

from dlcore.errors import DataUnavailable
from ui.mnist import digit, evaluate, explore, inside, shared, train
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

SECTIONS = {
    "Explore": explore.render,
    "Train": train.render,
    "Evaluate": evaluate.render,
    "Look inside": inside.render,
    "Read my digit": digit.render,
}
NEEDS_MODEL = {"Evaluate", "Look inside", "Read my digit"}

st.title("✍️ MNIST: a network that reads handwriting")
st.write(
    "Teach a convolutional neural network (CNN) to recognize handwritten digits 0–9, the "
    "project of the tutorial: look at the data, train the network and watch it learn, "
    "measure how good it is, open it up, and finally let it read a digit you write."
)
shared.remember_finished()
trained = shared.current_model()
if trained is not None:
    st.caption(shared.model_label(trained))

# Only the open tab runs (on_change="rerun"); the others cost nothing on each rerun.
tabs = st.tabs(list(SECTIONS), key=shared.TAB, on_change="rerun", bind="query-params")
for tab, (name, render) in zip(tabs, SECTIONS.items(), strict=True):
    if not tab.open:
        continue
    with tab:
        try:
            if name in NEEDS_MODEL:
                render(trained)
            else:
                render()
        except DataUnavailable as exc:
            st.error(f"The MNIST data cannot be loaded: {exc}")
