"""Optional features that plug into the core through its extension points.

Each extension is one module with an `enable(settings, core)` and a `_disabled` twin of the
same shape that adds nothing; the composition root (wiring.py) imports one of the two. The
core never imports an extension, so it starts, serves and passes its tests with each one off.
"""
