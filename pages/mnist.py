"""MNIST CNN: explore the digits, train the tutorial's network live, evaluate it, look
inside it, and let it read your own handwriting."""

import streamlit as st

from dlcore.errors import DataUnavailable
from dlcore.i18n import N_, _
from ui.mnist import digit, evaluate, explore, inside, shared, train
from ui.runtime import ensure_app_navigation

ensure_app_navigation()

SECTIONS = {
    N_("Explore"): explore.render,
    N_("Train"): train.render,
    N_("Evaluate"): evaluate.render,
    N_("Look inside"): inside.render,
    N_("Read my digit"): digit.render,
}
NEEDS_MODEL = {"Evaluate", "Look inside", "Read my digit"}

st.title(_("✍️ MNIST: a network that reads handwriting"))
st.write(
    _(
        "Teach a convolutional neural network (CNN) to recognize handwritten digits 0–9, the "
        "project of the tutorial: look at the data, train the network and watch it learn, "
        "measure how good it is, open it up, and finally let it read a digit you write."
    )
)
shared.remember_finished()
trained = shared.current_model()
if trained is not None:
    st.caption(shared.model_label(trained))

# Only the open tab runs (on_change="rerun"); the others cost nothing on each rerun. The tabs show
# labels in the learner's language; the session and the URL hold the language-independent
# section id (?mnist_tab=Train), see shared.open_section.
open_id = shared.open_section(list(SECTIONS))
tabs = st.tabs([_(name) for name in SECTIONS], key=shared.TAB, on_change="rerun")
for tab, (name, render) in zip(tabs, SECTIONS.items(), strict=True):
    if name != open_id:
        continue
    with tab:
        try:
            if name in NEEDS_MODEL:
                render(trained)
            else:
                render()
        except DataUnavailable as exc:
            st.error(_("The MNIST data cannot be loaded: {reason}", reason=str(exc)))
