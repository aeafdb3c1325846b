"""dlcore: the engine of the Deep Learning Playground.

Importing this package is cheap: it never imports Streamlit, and TensorFlow is only
imported by the modules that compute with it (activations, losses, optimizers, models,
training, device), so the Home page stays fast. On a Linux machine without a GPU driver
it sets two TensorFlow variables first (``device.quiet_cuda_probe``), so that TensorFlow,
imported later, does not call ``cuInit`` and log a CUDA error on every start.
"""

from dlcore import device as _device

__version__ = "0.1.0"

_device.quiet_cuda_probe()
