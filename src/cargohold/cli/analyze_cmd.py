"""`cargohold analyze IMAGE` and `cargohold analyze --compare OLD NEW`: layer sizes, wasted
bytes, what the final image carries, the user it runs as, an efficiency score (docs/analyze.md).

Images are named as for `cargohold scan` (cli/scan_sources.py): local ones are read here, one
streaming pass per layer; an image on a cargohold server is analyzed by that server (once per
manifest, stored); an image in any other registry or in the Docker daemon is copied to a
temporary place first. Errors are one line and exit 1; `--min-efficiency` fails with exit 3.
"""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from cargohold.cli.client import AdminClient, ClientError
from cargohold.cli.common import OutputOption, fail, write_output
from cargohold.cli.scan_sources import RegistryImage, fetched, one_line, resolve_image

if TYPE_CHECKING:
    from cargohold.analysis.model import AnalysisReport, Comparison, ImageAnalysis

GATE_FAILED = 3


class AnalyzeFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"


def analyze(
    image: Annotated[
        str | None,
        typer.Argument(
            metavar="[IMAGE]",
            help="oci:PATH[:TAG], oci-archive:PATH, docker-archive:PATH, a path, "
            "docker://HOST/REPO:TAG or HOST/REPO:TAG (any registry), or docker-daemon:NAME.",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare",
            metavar="OLD NEW",
            help="Compare two images: size change per layer and per directory.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        AnalyzeFormat, typer.Option("--format", "-f", help="Report format.")
    ] = AnalyzeFormat.table,
    output: OutputOption = None,
    platform: Annotated[
        str | None,
        typer.Option(
            "--platform",
            help="Of a multi-platform image, only this one: os/arch or os/arch/variant.",
            show_default=False,
        ),
    ] = None,
    min_efficiency: Annotated[
        float | None,
        typer.Option(
            "--min-efficiency",
            min=0.0,
            max=1.0,
            help="Exit 3 when an image's efficiency score is below this (0 to 1).",
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            envvar="CARGOHOLD_REGISTRY",
            help="URL of the cargohold server holding a REPO:TAG or REPO@DIGEST image.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Analyze an image: layer sizes and instructions, wasted bytes, build tools, caches,
    headers and docs left in it, its user, its largest files and an efficiency score."""
    if (image is None) == (compare is None):
        raise typer.BadParameter("give IMAGE, or --compare OLD NEW (not both)")
    if compare is not None:
        old, new = (_report(name, registry, platform) for name in compare)
        comparisons = _compared(old, new)
        write_output(lambda stream: _render_comparison(comparisons, output_format, stream), output)
        reports = [new]
    else:
        assert image is not None
        report = _report(image, registry, platform)
        write_output(lambda stream: _render(report, output_format, stream), output)
        reports = [report]
    if min_efficiency is not None:
        low = [a for r in reports for a in r.platforms if a.efficiency < min_efficiency]
        for analysis in low:
            print(
                f"efficiency {analysis.efficiency:.1%} of {analysis.platform or analysis.digest} "
                f"is below {min_efficiency:.1%}",
                file=sys.stderr,
            )
        if low:
            raise typer.Exit(code=GATE_FAILED)


def _report(name: str, registry: str | None, platform: str | None) -> AnalysisReport:
    from cargohold.analysis.model import AnalysisReport

    source = resolve_image(name, registry)
    if isinstance(source, RegistryImage):
        report = _from_server(source)
        report.image = name
    else:
        report = AnalysisReport(image=name, platforms=_analyzed(source))
    if platform is not None:
        report.platforms = [a for a in report.platforms if a.platform == platform]
        if not report.platforms:
            raise fail(f"{name}: no {platform} image in it")
    return report


def _analyzed(source: object) -> list[ImageAnalysis]:
    from cargohold.analysis.analyze import analyze_image
    from cargohold.scan.errors import ScanError
    from cargohold.scan.layout import open_images
    from cargohold.scan.reference import ImageReference

    try:
        with (
            (
                contextlib.nullcontext(source)
                if isinstance(source, ImageReference)
                else fetched(source)  # type: ignore[arg-type]
            ) as local,
            open_images(local) as images,
        ):
            return [analyze_image(image) for image in images]
    except ScanError as exc:
        raise fail(one_line(str(exc))) from None


def _from_server(image: RegistryImage) -> AnalysisReport:
    import msgspec

    from cargohold.analysis.model import AnalysisReport

    try:
        body = AdminClient(image.base, timeout=600).image_analysis(
            image.repository, image.reference
        )
    except ClientError as exc:
        raise fail(str(exc)) from None
    try:
        return msgspec.json.decode(body, type=AnalysisReport)
    except msgspec.ValidationError as exc:
        raise fail(
            f"{image.base}: the server's analysis is not one this CLI reads: {exc}"
        ) from None


def _compared(old: AnalysisReport, new: AnalysisReport) -> list[Comparison]:
    """One comparison per platform both have; two single-platform images pair as they are."""
    from cargohold.analysis.compare import compare

    if len(old.platforms) == 1 and len(new.platforms) == 1:
        pairs = [(old.platforms[0], new.platforms[0])]
    else:
        by_platform = {a.platform: a for a in old.platforms}
        pairs = [(by_platform[a.platform], a) for a in new.platforms if a.platform in by_platform]
        if not pairs:
            raise fail(f"{old.image} and {new.image} share no platform; name one with --platform")
    return [compare(a, b, old.image, new.image) for a, b in pairs]


def _render(report: AnalysisReport, output_format: AnalyzeFormat, stream: TextIO) -> None:
    from cargohold.analysis import html, table

    if output_format is AnalyzeFormat.json:
        _json(report, stream)
    elif output_format is AnalyzeFormat.html:
        html.write(report, stream)
    else:
        table.write(report, stream)


def _render_comparison(
    comparisons: list[Comparison], output_format: AnalyzeFormat, stream: TextIO
) -> None:
    from cargohold.analysis import html, table

    if output_format is AnalyzeFormat.json:
        _json({"comparisons": comparisons}, stream)
    elif output_format is AnalyzeFormat.html:
        html.write_comparison(comparisons, stream)
    else:
        table.write_comparison(comparisons, stream)


def _json(document: object, stream: TextIO) -> None:
    import msgspec

    stream.write(msgspec.json.format(msgspec.json.encode(document).decode(), indent=2) + "\n")
