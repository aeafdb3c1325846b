"""What tests and benchmarks share: generated inputs (hostile uploads) and their helpers."""
