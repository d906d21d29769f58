"""The base of the admin API's response models: camelCase keys (docs/api.md)."""

from __future__ import annotations

import msgspec


class Model(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """A document of cargohold's own: field `last_pushed_at` is key `lastPushedAt`."""
