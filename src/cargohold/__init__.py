"""cargohold: a self-hosted container registry and image-management platform."""

__version__ = "0.1.0"
