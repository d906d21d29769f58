"""The byte ranges of blob upload requests: the `Range` an upload session answers with, and
the `Content-Range` a chunk is sent with (distribution's `start-end`, or `bytes start-end/total`).
"""

from __future__ import annotations

from cargohold.errors import BlobUploadInvalid, RangeInvalid
from cargohold.meta.uploads import Upload
from cargohold.parsing.integers import parse_non_negative


def range_header(size: int) -> str:
    """Distribution's `Range` for an upload holding `size` bytes."""
    return f"0-{max(size - 1, 0)}"


def check_range(
    upload: Upload, range_start: int | None, content_length: int | None, range_end: int | None
) -> None:
    """Refuse a chunk that does not start at the session's offset, or whose Content-Range
    and Content-Length disagree."""
    if range_start is not None and range_start != upload.offset:
        raise RangeInvalid(
            f"chunk starts at {range_start}, but the upload holds {upload.offset} bytes",
            headers={"Range": range_header(upload.offset)},
        )
    if range_start is not None and range_end is not None:
        if content_length is not None and range_end - range_start + 1 != content_length:
            raise RangeInvalid(
                "Content-Range does not match Content-Length",
                headers={"Range": range_header(upload.offset)},
            )


def parse_content_range(value: str | None) -> tuple[int, int] | None:
    """`start-end` (distribution's form) or `bytes start-end/total`."""
    if not value:
        return None
    text = value.strip()
    if text.startswith("bytes "):
        text = text[len("bytes ") :].split("/", 1)[0]
    start_text, sep, end_text = text.partition("-")
    try:
        start, end = parse_non_negative(start_text), parse_non_negative(end_text)
    except ValueError:
        start = end = -1
    if not sep or start < 0 or end < start:
        raise BlobUploadInvalid(f"invalid Content-Range {value[:100]!r}")
    return start, end
