"""The MNIST page's five tabs and what they share (pages/mnist.py puts them together)."""
