"""The order tags are listed in: versions as versions (`v1.2` before `v1.10`).

Tags are not all versions (`latest`, `main`, `sha-4f2a9c1`, `2024-05-01`, `1.25-alpine`), so
no version grammar (semver, PEP 440) fits them all. A natural sort does: runs of digits compare
as numbers, everything else as text, so `1.9 < 1.10`, `1.25-alpine` stays next to `1.25`, and
dates sort by date. Where a run of digits meets text at the same place, the number comes
first. Pre-releases sort after their release (`1.0 < 1.0-rc1`): telling a pre-release from a
variant needs a grammar the tag does not declare.
"""

from __future__ import annotations

import re

_RUNS = re.compile(r"(\d+)")


def tag_sort_key(tag: str) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Natural order of `tag`; ties (`1.01` and `1.1`) are broken by the text itself."""
    parts = tuple(
        (0, int(run), "") if i % 2 else (1, 0, run) for i, run in enumerate(_RUNS.split(tag)) if run
    )
    return parts, tag
