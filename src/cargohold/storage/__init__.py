"""Blob store drivers behind one narrow interface (see `base.BlobStore`)."""
