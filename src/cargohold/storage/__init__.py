"""Blob drivers behind one narrow interface (see `base.BlobDriver`).

Upload staging lives above them, in services/staging.py.
"""
