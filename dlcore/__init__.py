"""dlcore: the engine of the Deep Learning Playground.

Importing this package is cheap: it never imports Streamlit, and TensorFlow is only
imported by the modules that compute with it (activations, losses, optimizers, models,
training, device), so the Home page stays fast.
"""

__version__ = "0.1.0"
