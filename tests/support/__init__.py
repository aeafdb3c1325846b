"""What tests and benchmarks share (bench scripts put the repository root on sys.path).

- hostile: generated hostile uploads (wide CSVs, scan-bomb JPEGs, ...).
- latex: the restricted LaTeX -> NumPy translator that checks the formulas shown.
- results: small real TrainResults, saved to and loaded from the cache without training.
- servers: `streamlit run` on a free port, healthy (/_stcore/health) or an error, stopped.
- browser: headless Chromium's path and flags; waiting for the app to be idle, no errors.

Test modules import shared helpers from here, never from another test module.
"""
