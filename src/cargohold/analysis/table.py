"""The human report of `cargohold analyze`: per platform the totals, the layers, the waste, what
the final image carries, and for `--compare` the changes. Sizes in binary units (KiB, MiB)."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cargohold.analysis.model import AnalysisReport, Comparison, ImageAnalysis
from cargohold.scan.report.table import FILE_WIDTH, is_terminal

INSTRUCTION_WIDTH = 70


def human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def signed(size: int) -> str:
    return ("+" if size > 0 else "-" if size < 0 else "") + human(abs(size))


def _console(stream: TextIO) -> Console:
    return Console(
        file=stream,
        width=None if is_terminal(stream) else FILE_WIDTH,
        highlight=False,
        soft_wrap=False,
    )


def _instruction(text: str | None) -> str:
    text = " ".join((text or "").split())
    text = text.removeprefix("/bin/sh -c #(nop) ").removeprefix("/bin/sh -c ")
    return text if len(text) <= INSTRUCTION_WIDTH else text[: INSTRUCTION_WIDTH - 1] + "…"


def write(report: AnalysisReport, stream: TextIO) -> None:
    console = _console(stream)
    for analysis in report.platforms:
        _analysis(console, report.image, analysis)


def _analysis(console: Console, image: str, a: ImageAnalysis) -> None:
    console.print()
    label = f" ({a.platform})" if a.platform else ""
    console.print(Text(f"{image}{label}", style="bold"))
    console.print(
        f"Size: {human(a.compressed_bytes)} compressed, {human(a.uncompressed_bytes)} "
        f"uncompressed; files: {human(a.final_bytes)} in {a.final_files} entries"
    )
    score = Text(f"Efficiency: {a.efficiency:.1%}", style="bold")
    score.append(f"; wasted: {human(a.wasted_bytes)} in {a.wasted_files} hidden copies")
    console.print(score)
    style = "bold red" if a.run_as.root else "green"
    console.print(Text(f"Runs as: {a.run_as.user or '(no USER)'}: {a.run_as.reason}", style=style))
    layers = Table(title="Layers", title_justify="left")
    for column in ("#", "Compressed", "Uncompressed", "Files", "Wasted", "Created by"):
        justify = "left" if column == "Created by" else "right"
        layers.add_column(column, overflow="fold", justify=justify)
    for layer in a.layers:
        layers.add_row(
            str(layer.index),
            human(layer.compressed_bytes),
            human(layer.uncompressed_bytes),
            str(layer.files),
            human(layer.wasted_bytes) if layer.wasted_bytes else "",
            _instruction(layer.created_by),
        )
    console.print(layers)
    if a.wasted:
        wasted = Table(title="Wasted: copies later layers hide", title_justify="left")
        for column in ("Size", "Path", "Layer", "Hidden by", "How"):
            wasted.add_column(column, overflow="fold")
        for w in a.wasted:
            wasted.add_row(human(w.bytes), w.path, str(w.layer), str(w.hidden_by), w.how)
        console.print(wasted)
    found = [c for c in a.categories if c.files]
    if found:
        kinds = Table(title="In the final image", title_justify="left")
        for column in ("Kind", "Files", "Size", "Largest"):
            kinds.add_column(column, overflow="fold")
        for c in found:
            examples = ", ".join(e.path for e in c.examples[:3])
            kinds.add_row(c.name, str(c.files), human(c.bytes), examples)
        console.print(kinds)
    largest = Table(title="Largest files", title_justify="left")
    for column in ("Size", "Path", "Layer"):
        largest.add_column(column, overflow="fold")
    for f in a.largest_files:
        largest.add_row(human(f.bytes), f.path, str(f.layer))
    console.print(largest)


def write_comparison(comparisons: list[Comparison], stream: TextIO) -> None:
    console = _console(stream)
    for c in comparisons:
        console.print()
        console.print(Text(f"{c.old} -> {c.new}", style="bold"))
        console.print(
            f"Files: {human(c.old_bytes)} -> {human(c.new_bytes)} ({signed(c.delta)}); "
            f"compressed: {human(c.old_compressed)} -> {human(c.new_compressed)}; "
            f"efficiency: {c.old_efficiency:.1%} -> {c.new_efficiency:.1%}"
        )
        layers = Table(title="Layers", title_justify="left")
        for column in ("#", "Change", "Old", "New", "Delta", "Created by"):
            layers.add_column(column, overflow="fold")
        for layer in c.layers:
            layers.add_row(
                str(layer.index),
                layer.change,
                human(layer.old_bytes),
                human(layer.new_bytes),
                signed(layer.new_bytes - layer.old_bytes),
                _instruction(layer.created_by),
            )
        console.print(layers)
        if c.directories:
            dirs = Table(title="Directories", title_justify="left")
            for column in ("Path", "Change", "Old", "New", "Delta"):
                dirs.add_column(column, overflow="fold")
            for d in c.directories:
                dirs.add_row(
                    d.path, d.change, human(d.old_bytes), human(d.new_bytes), signed(d.delta)
                )
            console.print(dirs)
        for title, files in (
            ("Among the new image's largest files only", c.largest_added),
            ("Among the old image's largest files only", c.largest_removed),
        ):
            if files:
                table = Table(title=title, title_justify="left")
                table.add_column("Size")
                table.add_column("Path", overflow="fold")
                for f in files:
                    table.add_row(human(f.bytes), f.path)
                console.print(table)
