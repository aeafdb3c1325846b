"""What the pages share: the live-training panel, charts, the page catalogue, the
Streamlit runtime adjustments, and the MNIST page's tabs. Imports streamlit and dlcore;
dlcore never imports this."""

from ui import language  # noqa: E402, F401  (installs the learner's language lookup, see there)
