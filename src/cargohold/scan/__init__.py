"""Image scanning engine: package inventory of container images.

A domain engine: it reads image layouts and tarballs and returns dataclasses;
it knows nothing about HTTP or the metadata store.
"""

from typing import Any

from cargohold.scan.errors import BadReferenceError, ImageSourceError, LayerError, ScanError
from cargohold.scan.model import Inventory, LayerRef, OSInfo, Package, Platform, Problem


def __getattr__(name: str) -> Any:
    # The inventory engine (catalogers, decompressors) loads on first use: a registry process
    # that never scans, or only reads stored results, does not carry it.
    if name in ("inventory_image", "inventory_source"):
        from cargohold.scan import inventory

        return getattr(inventory, name)
    raise AttributeError(f"module 'cargohold.scan' has no attribute {name!r}")


__all__ = [
    "BadReferenceError",
    "ImageSourceError",
    "Inventory",
    "LayerError",
    "LayerRef",
    "OSInfo",
    "Package",
    "Platform",
    "Problem",
    "ScanError",
    "inventory_image",
    "inventory_source",
]
