"""Encoding cost of the admin API's JSON: dicts today vs typed models (decision 018).

Run by hand on a quiet machine: `.venv/bin/python bench/json_encoding.py` (pydantic is not a
dependency: `.venv/bin/pip install pydantic` first to measure it; it is skipped otherwise).

Each variant starts from what the metadata layer returns (frozen dataclasses with UNIX-second
floats) and ends with the response body's bytes, so building the document counts, not only
the encoder. Two documents: an admin list of 1,000 tag rows and a tags/list-sized document
(a name and 100 tag strings, the shape of GET /v2/<name>/tags/list).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
import orjson

ROWS = 1_000
TAGS = 100
UTC = dt.UTC


@dataclass(frozen=True)
class TagDetail:
    tag: str
    digest: str
    media_type: str
    size: int
    pushed_at: float
    tagged_at: float
    last_pulled_at: float | None


def _rows() -> list[TagDetail]:
    base = 1_796_000_000.123456
    return [
        TagDetail(
            tag=f"v1.{i}.{i % 7}",
            digest="sha256:" + f"{i:064x}",
            media_type="application/vnd.oci.image.manifest.v1+json",
            size=10_000_000 + i * 4096,
            pushed_at=base + i,
            tagged_at=base + i + 0.5,
            last_pulled_at=None if i % 3 else base + 2 * i,
        )
        for i in range(ROWS)
    ]


def _time(stamp: float | None) -> dt.datetime | None:
    return None if stamp is None else dt.datetime.fromtimestamp(stamp, UTC)


# Today: dicts keyed by SQL labels, epoch floats, Starlette's JSONResponse.render.
def _starlette(content: object) -> bytes:
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def today_dicts(rows: list[TagDetail]) -> bytes:
    return _starlette(
        {
            "name": "team/app",
            "tags": [
                {
                    "tag": r.tag,
                    "digest": r.digest,
                    "media_type": r.media_type,
                    "size_bytes": r.size,
                    "pushed_at": r.pushed_at,
                    "tagged_at": r.tagged_at,
                    "last_pulled_at": r.last_pulled_at,
                }
                for r in rows
            ],
        }
    )


def orjson_dicts(rows: list[TagDetail]) -> bytes:
    """Dicts in the new convention (camelCase, RFC 3339), encoded by orjson."""
    return orjson.dumps(
        {
            "name": "team/app",
            "tags": [
                {
                    "tag": r.tag,
                    "digest": r.digest,
                    "mediaType": r.media_type,
                    "sizeBytes": r.size,
                    "pushedAt": _time(r.pushed_at),
                    "taggedAt": _time(r.tagged_at),
                    "lastPulledAt": _time(r.last_pulled_at),
                }
                for r in rows
            ],
        }
    )


class MsgTag(msgspec.Struct, rename="camel", omit_defaults=False):
    tag: str
    digest: str
    media_type: str
    size_bytes: int
    pushed_at: dt.datetime
    tagged_at: dt.datetime
    last_pulled_at: dt.datetime | None


class MsgTagList(msgspec.Struct, rename="camel"):
    name: str
    tags: list[MsgTag]


_ENCODER = msgspec.json.Encoder()


def msgspec_structs(rows: list[TagDetail]) -> bytes:
    return _ENCODER.encode(
        MsgTagList(
            "team/app",
            [
                MsgTag(
                    r.tag,
                    r.digest,
                    r.media_type,
                    r.size,
                    _time(r.pushed_at),  # type: ignore[arg-type]
                    _time(r.tagged_at),  # type: ignore[arg-type]
                    _time(r.last_pulled_at),
                )
                for r in rows
            ],
        )
    )


def _pydantic_variants() -> dict[str, Callable[[list[TagDetail]], bytes]]:
    try:
        import pydantic
        from pydantic.alias_generators import to_camel
    except ImportError:
        return {}

    class PydTag(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True)
        tag: str
        digest: str
        media_type: str
        size_bytes: int
        pushed_at: dt.datetime
        tagged_at: dt.datetime
        last_pulled_at: dt.datetime | None

    class PydTagList(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True)
        name: str
        tags: list[PydTag]

    def validated(rows: list[TagDetail]) -> bytes:
        return (
            PydTagList(
                name="team/app",
                tags=[
                    PydTag(
                        tag=r.tag,
                        digest=r.digest,
                        media_type=r.media_type,
                        size_bytes=r.size,
                        pushed_at=_time(r.pushed_at),  # type: ignore[arg-type]
                        tagged_at=_time(r.tagged_at),  # type: ignore[arg-type]
                        last_pulled_at=_time(r.last_pulled_at),
                    )
                    for r in rows
                ],
            )
            .model_dump_json(by_alias=True)
            .encode()
        )

    def constructed(rows: list[TagDetail]) -> bytes:
        return (
            PydTagList.model_construct(
                name="team/app",
                tags=[
                    PydTag.model_construct(
                        tag=r.tag,
                        digest=r.digest,
                        media_type=r.media_type,
                        size_bytes=r.size,
                        pushed_at=_time(r.pushed_at),
                        tagged_at=_time(r.tagged_at),
                        last_pulled_at=_time(r.last_pulled_at),
                    )
                    for r in rows
                ],
            )
            .model_dump_json(by_alias=True)
            .encode()
        )

    return {"pydantic (validated)": validated, "pydantic (model_construct)": constructed}


# The tags/list document (/v2/): no times, no renames; the OCI hot path's JSON.
def _taglist_variants() -> dict[str, Callable[[list[str]], bytes]]:
    class TagList(msgspec.Struct):
        name: str
        tags: list[str]

    variants: dict[str, Callable[[list[str]], bytes]] = {
        "json.dumps (Starlette)": lambda t: _starlette({"name": "team/app", "tags": t}),
        "orjson dict": lambda t: orjson.dumps({"name": "team/app", "tags": t}),
        "msgspec Struct": lambda t: _ENCODER.encode(TagList("team/app", t)),
    }
    try:
        import pydantic

        class PydTagList(pydantic.BaseModel):
            name: str
            tags: list[str]

        variants["pydantic (validated)"] = lambda t: (
            PydTagList(name="team/app", tags=t).model_dump_json().encode()
        )
    except ImportError:
        pass
    return variants


def _measure(fn: Callable[[], bytes], budget: float = 1.0) -> tuple[float, int]:
    """Median microseconds per call over 7 rounds, and the body's size."""
    body = fn()
    calls = 1
    while True:  # calibrate: one round takes about budget/7 seconds
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > budget / 7 or calls > 1_000_000:
            break
        calls *= 2
    rounds = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(rounds), len(body)


def main() -> int:
    rows = _rows()
    print(
        f"python {sys.version.split()[0]}, msgspec {msgspec.__version__},"
        f" orjson {orjson.__version__}"
    )
    print(f"\n{ROWS} tag rows, dataclasses -> body bytes")
    print(f"{'variant':32} {'us/doc':>10} {'bytes':>8}")
    variants: dict[str, Callable[[list[TagDetail]], bytes]] = {
        "today: dicts + json.dumps": today_dicts,
        "orjson, camel dicts + datetime": orjson_dicts,
        "msgspec Struct rename=camel": msgspec_structs,
        **_pydantic_variants(),
    }
    for label, variant in variants.items():
        micros, size = _measure(lambda v=variant: v(rows))  # type: ignore[misc]
        print(f"{label:32} {micros:10.0f} {size:8}")
    tags = [f"v1.{i}.{i % 7}" for i in range(TAGS)]
    print(f"\ntags/list with {TAGS} tags")
    print(f"{'variant':32} {'us/doc':>10} {'bytes':>8}")
    for label, encode in _taglist_variants().items():
        micros, size = _measure(lambda e=encode: e(tags))  # type: ignore[misc]
        print(f"{label:32} {micros:10.2f} {size:8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
