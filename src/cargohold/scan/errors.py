"""Exceptions of the scanning engine. Each carries a one-line message for humans."""

from __future__ import annotations


class ScanError(Exception):
    """Base class: the image could not be inventoried."""


class BadReferenceError(ScanError):
    """The image reference is not one of the forms the scanner understands."""


class ImageSourceError(ScanError):
    """The layout directory or archive is missing, unreadable or malformed."""


class LayerError(ScanError):
    """A layer blob is not a readable (optionally gzip/zstd compressed) tar stream."""


class InvalidRecord(ScanError):
    """An OSV vulnerability record is malformed; the message names the record and the field."""
