"""Image analysis: layer sizes, wasted bytes, what the final image carries (docs/analyze.md).

A domain engine that shares the scanner's image reading (scan/layout.py, scan/layers.py):
headers only, one streaming pass per layer. model.py imports nothing of the scanner: the
registry loads it (the admin API's schema) without loading the engine.
"""
