"""Deep Learning Playground: page config, navigation and the shared sidebar."""

import sys

import streamlit as st

from dlcore import cache
from pages._catalog import HOME, listed_lessons

st.set_page_config(page_title="Deep Learning Playground", page_icon="🧠", layout="wide")

home = st.Page(HOME.path, title=HOME.title, icon=HOME.icon, default=True)
lessons = [st.Page(p.path, title=p.title, icon=p.icon) for p in listed_lessons()]
page = st.navigation([home, *lessons])


def render_sidebar() -> None:
    """Compute device (once a page has loaded TensorFlow) and the number of cached models."""
    with st.sidebar:
        if "tensorflow" in sys.modules:
            from dlcore import device

            st.caption(f"Compute: **{device.configure().summary}**")
        else:
            st.caption("Compute: TensorFlow loads when a page needs it")
        st.caption(f"Cached trained models: **{cache.count_entries()}**")


page.run()
render_sidebar()
