"""The analysis of an image, and the comparison of two: msgspec Structs with camelCase keys.

One definition serves `cargohold analyze --format json`, the document the registry stores
per manifest (meta/analyses.py) and the admin API's response model and OpenAPI schema
(api/models/analysis.py): decision 049. Sizes are bytes; paths start with `/`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

# Bumped when the analysis changes what it reports: stored analyses of an older version
# are computed again when next asked for.
FORMAT_VERSION = 1


class Doc(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """A document of the analyzer: field `wasted_bytes` is key `wastedBytes`."""


class LayerSummary(Doc):
    index: Annotated[int, msgspec.Meta(description="The layer's position; 0 is the base")]
    digest: str
    compressed_bytes: Annotated[
        int | None, msgspec.Meta(description="The blob as stored (pulled), when known")
    ]
    uncompressed_bytes: Annotated[int, msgspec.Meta(description="The layer's tar stream")]
    content_bytes: Annotated[int, msgspec.Meta(description="The regular files it writes")]
    files: Annotated[int, msgspec.Meta(description="Entries it writes (not directories)")]
    deletions: Annotated[int, msgspec.Meta(description="Whiteouts and opaque directories")]
    wasted_bytes: Annotated[
        int,
        msgspec.Meta(description="Content this layer stores that later layers hide"),
    ]
    created_by: Annotated[
        str | None, msgspec.Meta(description="The instruction that made it (config history)")
    ]


class HistoryStep(Doc):
    """One entry of the image config's history; `layer` is None for an empty_layer step."""

    created_by: str | None
    layer: int | None
    comment: str | None


class WastedFile(Doc):
    path: str
    bytes: int
    layer: Annotated[int, msgspec.Meta(description="The layer that stores the hidden copy")]
    hidden_by: Annotated[int, msgspec.Meta(description="The layer that hides it")]
    how: Annotated[
        str, msgspec.Meta(description="overwritten, deleted (a whiteout) or opaque (directory)")
    ]


class FileSize(Doc):
    path: str
    bytes: int
    layer: int


class ContentCategory(Doc):
    """Files of one kind the final image carries that a runtime image usually does not."""

    name: Annotated[str, msgspec.Meta(description="build-tools, package-caches, headers, docs")]
    files: int
    bytes: int
    examples: Annotated[list[FileSize], msgspec.Meta(description="The largest of them")]


class DirectorySize(Doc):
    path: str
    bytes: Annotated[int, msgspec.Meta(description="Regular files below it, final image")]
    files: int


class RunAs(Doc):
    user: Annotated[str, msgspec.Meta(description="The config's User, as written")]
    root: Annotated[bool, msgspec.Meta(description="Whether the process runs as UID 0")]
    reason: str


class ImageAnalysis(Doc):
    digest: Annotated[str, msgspec.Meta(description="The manifest digest (docker-archive: ID)")]
    platform: str | None
    layers: list[LayerSummary]
    history: list[HistoryStep]
    compressed_bytes: int | None
    uncompressed_bytes: int
    content_bytes: Annotated[int, msgspec.Meta(description="Regular files over all layers")]
    final_bytes: Annotated[int, msgspec.Meta(description="Regular files the final image shows")]
    final_files: int
    wasted_bytes: int
    efficiency: Annotated[
        float, msgspec.Meta(description="final bytes / content bytes; 1.0 for an empty image")
    ]
    wasted: Annotated[list[WastedFile], msgspec.Meta(description="The largest hidden copies")]
    wasted_files: Annotated[int, msgspec.Meta(description="Hidden copies in all")]
    largest_files: list[FileSize]
    categories: list[ContentCategory]
    run_as: RunAs
    directories: Annotated[
        list[DirectorySize],
        msgspec.Meta(description="Every directory down to three levels, by size"),
    ]
    format_version: Annotated[
        int, msgspec.Meta(description="What the analyzer that wrote this reports (it grows)")
    ] = FORMAT_VERSION


class LayerChange(Doc):
    index: int
    old_digest: str | None
    new_digest: str | None
    old_bytes: int
    new_bytes: int
    change: Annotated[str, msgspec.Meta(description="same (one blob), changed, added or removed")]
    created_by: str | None


class DirectoryChange(Doc):
    path: str
    old_bytes: int
    new_bytes: int
    delta: int
    change: Annotated[str, msgspec.Meta(description="added, removed, grown or shrunk")]


class Comparison(Doc):
    old: str
    new: str
    old_bytes: Annotated[int, msgspec.Meta(description="The final image's files, old")]
    new_bytes: int
    delta: int
    old_compressed: int | None
    new_compressed: int | None
    old_efficiency: float
    new_efficiency: float
    layers: list[LayerChange]
    directories: Annotated[
        list[DirectoryChange], msgspec.Meta(description="Directories that changed, largest first")
    ]
    largest_added: Annotated[
        list[FileSize],
        msgspec.Meta(description="The new image's largest files not among the old's largest"),
    ]
    largest_removed: Annotated[
        list[FileSize],
        msgspec.Meta(description="The old image's largest files not among the new's largest"),
    ]


class AnalysisReport(Doc):
    """`cargohold analyze --format json`, and the admin API's analysis of an image."""

    image: Annotated[str, msgspec.Meta(description="The image as named")]
    platforms: Annotated[
        list[ImageAnalysis], msgspec.Meta(description="One per platform (an index: each)")
    ]
