"""Decoding JSON documents from clients: manifests and every admin API body.

Python's `json` is lenient where a registry must not be:
- it guesses UTF-16/32 and skips a UTF-8 byte order mark; the image spec's JSON is UTF-8;
- it keeps the last of duplicate keys, so two readers of one manifest can disagree on it;
- it takes `NaN` and `Infinity`, which are not JSON, and reads `1e999` as infinity;
- it builds integers of any size, which no database column holds (OverflowError later);
- it recurses once per nesting level (RecursionError about 1,000 levels down);
- it decodes `"\\ud800"` to a lone surrogate that cannot be encoded back to UTF-8, and
  `"\\u0000"`, which PostgreSQL text columns refuse.
`load_json` refuses all of these with a `JsonInvalid` that says why, and is a pure function
of the bytes: how many bytes to read is the caller's business.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import Any

from cargohold.parsing.integers import INT64_MAX

INT64_MIN = -(2**63)
# Manifests and admin bodies are a handful of levels deep; 64 leaves room for extensions.
MAX_DEPTH = 64

_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class JsonInvalid(ValueError):
    """A document that is not strict JSON (or is beyond the registry's bounds); says why."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonInvalid(f"duplicate key {key[:100]!r} in an object")
            seen.add(key)
    return document


def _integer(text: str) -> int:
    # At most 20 characters can be in range; longer ones are refused before int() runs.
    value = int(text) if len(text) <= 20 else None
    if value is None or not INT64_MIN <= value <= INT64_MAX:
        raise JsonInvalid(f"integer {text[:40]} is outside the 64-bit range")
    return value


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInvalid(f"number {text[:40]} is too large")
    return value


def _constant(name: str) -> Any:
    raise JsonInvalid(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_int=_integer,
    parse_float=_number,
    parse_constant=_constant,
)


def _check_tree(value: Any, max_depth: int) -> None:
    """Depth and string content of every node, iteratively (the tree may be deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            found = _BAD_CHARACTER.search(node)
            if found is not None:
                what = "a NUL character" if found.group() == "\x00" else "a lone surrogate"
                raise JsonInvalid(f"a string contains {what} (\\u{ord(found.group()):04x})")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise JsonInvalid(f"nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((item, depth + 1) for item in node.values())
        else:
            stack.extend((item, depth + 1) for item in node)


def load_json(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in `data` (UTF-8 bytes, or text); JsonInvalid saying why it is refused."""
    if isinstance(data, bytes):
        if data.startswith(codecs.BOM_UTF8):
            raise JsonInvalid("starts with a byte order mark: send UTF-8 without one")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInvalid(f"not UTF-8 (invalid byte at offset {exc.start})") from None
    else:
        text = data
    try:
        value = _DECODER.decode(text)
    except JsonInvalid:
        raise
    except RecursionError:
        raise JsonInvalid(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonInvalid(f"not valid JSON: {exc}") from None
    _check_tree(value, max_depth)
    return value
