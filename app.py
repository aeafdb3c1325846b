"""Deep Learning Playground: page config, navigation and the shared sidebar."""

import sys

import streamlit as st

from dlcore import cache

st.set_page_config(page_title="Deep Learning Playground", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
]

page = st.navigation(PAGES)


def render_sidebar() -> None:
    """Compute device (once TensorFlow is loaded) and the number of cached models."""
    with st.sidebar:
        if "tensorflow" in sys.modules:
            from dlcore import device

            st.caption(f"Compute: **{device.configure().summary}**")
        else:
            st.caption("Compute: TensorFlow loads when a page needs it")
        st.caption(f"Cached trained models: **{cache.count_entries()}**")


page.run()
render_sidebar()
