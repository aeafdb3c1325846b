"""Deep Learning Playground: page config, navigation and the shared sidebar."""

import sys

import streamlit as st

from dlcore import cache
from ui.catalog import HOME, listed_lessons
from ui.runtime import freeze_tensorflow_objects, import_tensorflow_once, keep_keras_state

st.set_page_config(page_title="Deep Learning Playground", page_icon="🧠", layout="wide")
keep_keras_state()

home = st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)
lessons = [st.Page(p.path, title=p.title, icon=p.icon) for p in listed_lessons()]
page = st.navigation([home, *lessons])


def render_sidebar(slot) -> None:
    """Compute device (once a page has loaded TensorFlow) and the number of cached models."""
    with slot.container():
        if "tensorflow" in sys.modules:
            from dlcore import device

            st.caption(f"Compute: **{device.configure().summary}**")
        else:
            st.caption("Compute: TensorFlow loads when a page needs it")
        st.caption(f"Cached trained models: **{cache.count_entries()}**")


# The slot is made before the page runs so it keeps its place; it is filled afterwards so
# that it can tell whether the page loaded TensorFlow.
sidebar_slot = st.sidebar.empty()
if page.url_path:  # every page but Home computes with TensorFlow
    import_tensorflow_once()
page.run()
render_sidebar(sidebar_slot)
freeze_tensorflow_objects()
