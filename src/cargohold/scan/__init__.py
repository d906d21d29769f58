"""Image scanning engine: package inventory of container images.

A domain engine: it reads image layouts and tarballs and returns dataclasses;
it knows nothing about HTTP or the metadata store.
"""

from cargohold.scan.errors import BadReferenceError, ImageSourceError, LayerError, ScanError
from cargohold.scan.inventory import inventory_image, inventory_source
from cargohold.scan.model import Inventory, LayerRef, OSInfo, Package, Platform, Problem

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
