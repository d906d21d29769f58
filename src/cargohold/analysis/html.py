"""The self-contained HTML report: one file, inline CSS, no script, nothing fetched.

Every text that comes from the image (paths, instructions, users, names) is escaped with
`html.escape`: a file named `<script>` is shown as its name, never run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TextIO

from cargohold import __version__
from cargohold.analysis.model import AnalysisReport, Comparison, ImageAnalysis
from cargohold.analysis.table import human, signed

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:2em}h3{font-size:1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
td.n{text-align:right;white-space:nowrap}code{font-size:.95em;word-break:break-all}
.bar{background:#4a7;height:.7em;display:inline-block}.bad{color:#b00}.good{color:#070}
.score{font-size:1.6em;font-weight:bold}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, body: str, stream: TextIO) -> None:
    stream.write(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1>{body}"
        f"<footer><small>cargohold {_e(__version__)}</small></footer></body></html>\n"
    )


def write(report: AnalysisReport, stream: TextIO) -> None:
    body = "".join(_analysis(a) for a in report.platforms)
    _page(f"Image analysis: {report.image}", body, stream)


def _bar(part: int, whole: int) -> str:
    width = 0 if not whole else max(1, round(200 * part / whole)) if part else 0
    return f'<span class="bar" style="width:{width}px"></span>'


def _analysis(a: ImageAnalysis) -> str:
    run_as = "bad" if a.run_as.root else "good"
    parts = [
        f"<h2>{_e(a.platform or 'image')} <code>{_e(a.digest)}</code></h2>",
        f'<p class="score">Efficiency {a.efficiency:.1%}</p>',
        f"<p>{_e(human(a.compressed_bytes))} compressed, {_e(human(a.uncompressed_bytes))} "
        f"uncompressed; the final image's files: {_e(human(a.final_bytes))} in "
        f"{a.final_files} entries; wasted: {_e(human(a.wasted_bytes))} in "
        f"{a.wasted_files} hidden copies.</p>",
        f'<p class="{run_as}">Runs as <code>{_e(a.run_as.user or "(no USER)")}</code>: '
        f"{_e(a.run_as.reason)}</p>",
        "<h3>Layers</h3>",
    ]
    biggest = max((layer.uncompressed_bytes for layer in a.layers), default=0)
    parts.append(
        _table(
            ["#", "Compressed", "Uncompressed", "", "Files", "Wasted", "Created by"],
            (
                [
                    str(layer.index),
                    _e(human(layer.compressed_bytes)),
                    _e(human(layer.uncompressed_bytes)),
                    _bar(layer.uncompressed_bytes, biggest),
                    str(layer.files),
                    _e(human(layer.wasted_bytes)) if layer.wasted_bytes else "",
                    f"<code>{_e(layer.created_by or '')}</code>",
                ]
                for layer in a.layers
            ),
            {0, 1, 2, 4, 5},
        )
    )
    if a.wasted:
        parts.append("<h3>Wasted: copies later layers hide</h3>")
        parts.append(
            _table(
                ["Size", "Path", "Layer", "Hidden by", "How"],
                (
                    [
                        _e(human(w.bytes)),
                        f"<code>{_e(w.path)}</code>",
                        str(w.layer),
                        str(w.hidden_by),
                        _e(w.how),
                    ]
                    for w in a.wasted
                ),
                {0, 2, 3},
            )
        )
    parts.append("<h3>In the final image</h3>")
    parts.append(
        _table(
            ["Kind", "Files", "Size", "Largest"],
            (
                [
                    _e(c.name),
                    str(c.files),
                    _e(human(c.bytes)),
                    "<br>".join(f"<code>{_e(e.path)}</code>" for e in c.examples),
                ]
                for c in a.categories
            ),
            {1, 2},
        )
    )
    parts.append("<h3>Largest files</h3>")
    parts.append(
        _table(
            ["Size", "Path", "Layer"],
            (
                [_e(human(f.bytes)), f"<code>{_e(f.path)}</code>", str(f.layer)]
                for f in a.largest_files
            ),
            {0, 2},
        )
    )
    parts.append("<h3>Directories</h3>")
    parts.append(
        _table(
            ["Size", "", "Path", "Entries"],
            (
                [
                    _e(human(d.bytes)),
                    _bar(d.bytes, a.final_bytes),
                    f"<code>{_e(d.path)}</code>",
                    str(d.files),
                ]
                for d in a.directories[:50]
            ),
            {0, 3},
        )
    )
    return "".join(parts)


def write_comparison(comparisons: list[Comparison], stream: TextIO) -> None:
    parts = []
    for c in comparisons:
        parts.append(f"<h2><code>{_e(c.old)}</code> → <code>{_e(c.new)}</code></h2>")
        parts.append(
            f"<p>Files: {_e(human(c.old_bytes))} → {_e(human(c.new_bytes))} "
            f"({_e(signed(c.delta))}); compressed: {_e(human(c.old_compressed))} → "
            f"{_e(human(c.new_compressed))}; efficiency {c.old_efficiency:.1%} → "
            f"{c.new_efficiency:.1%}</p>"
        )
        parts.append("<h3>Layers</h3>")
        parts.append(
            _table(
                ["#", "Change", "Old", "New", "Delta", "Created by"],
                (
                    [
                        str(layer.index),
                        _e(layer.change),
                        _e(human(layer.old_bytes)),
                        _e(human(layer.new_bytes)),
                        _e(signed(layer.new_bytes - layer.old_bytes)),
                        f"<code>{_e(layer.created_by or '')}</code>",
                    ]
                    for layer in c.layers
                ),
                {0, 2, 3, 4},
            )
        )
        parts.append("<h3>Directories</h3>")
        parts.append(
            _table(
                ["Path", "Change", "Old", "New", "Delta"],
                (
                    [
                        f"<code>{_e(d.path)}</code>",
                        _e(d.change),
                        _e(human(d.old_bytes)),
                        _e(human(d.new_bytes)),
                        _e(signed(d.delta)),
                    ]
                    for d in c.directories
                ),
                {2, 3, 4},
            )
        )
        for title, files in (
            ("Among the new image's largest files only", c.largest_added),
            ("Among the old image's largest files only", c.largest_removed),
        ):
            parts.append(f"<h3>{_e(title)}</h3>")
            parts.append(
                _table(
                    ["Size", "Path"],
                    ([_e(human(f.bytes)), f"<code>{_e(f.path)}</code>"] for f in files),
                    {0},
                )
            )
    _page("Image comparison", "".join(parts), stream)
