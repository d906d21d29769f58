"""`cargohold scan`: image forms, formats, --output, Trivy's gate flags and one-line errors.

Matching is replaced here by a stand-in that reports two known vulnerabilities for packages
the test image really has, so the gate logic is tested on the real command; the end-to-end
test with a real local database is below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cargohold.cli import scan_cmd
from cargohold.cli.main import app
from cargohold.scan import Inventory, inventory_image
from cargohold.scan.findings import Finding, PlatformResult, ScanResult, Severity
from tests.scan.content import DATA, debian_base, dist_info
from tests.scan.imagebuild import File, ImageSpec, docker_archive, oci_layout, tar_directory

SITE = "usr/lib/python3/dist-packages"
CRITICAL_CVE = "CVE-2024-1111"  # in libssl3, fixed
MEDIUM_CVE = "CVE-2024-2222"  # in requests, no fix yet


def _spec() -> ImageSpec:
    return ImageSpec(layers=[debian_base(), dist_info(SITE, "requests", "2.28.1")])


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    layout = oci_layout(root / "layout", _spec(), tag="1.0")
    rpm_spec = ImageSpec(
        layers=[[File("var/lib/rpm/Packages", b"\0" * 12 + b"\x61\x15\x06\x00" + b"\0" * 4080)]]
    )
    return {
        "layout": layout,
        "oci-tar": tar_directory(layout, root / "oci.tar"),
        "docker-tar": docker_archive(root / "docker.tar", [(_spec(), ["app:1.0"])]),
        "berkeleydb": oci_layout(root / "rpm", rpm_spec),
    }


@pytest.fixture(scope="module")
def inventory(images: dict[str, Path]) -> Inventory:
    (inventory,) = inventory_image(f"oci:{images['layout']}:1.0")
    return inventory


def _fake_match(target: str, inventories: list[Inventory], db_dir: Path | None) -> ScanResult:
    platforms = []
    for inventory in inventories:
        findings = []
        for package in inventory.packages:
            if package.name == "libssl3":
                findings.append(
                    Finding(
                        CRITICAL_CVE,
                        "DSA-9999-1",
                        ("DEBIAN-CVE-2024-1111",),
                        package,
                        package.source_version or package.version,
                        "3.0.20-1~deb12u1",
                        Severity("CRITICAL", 9.8, "CVSS_V3"),
                        "openssl: remote code execution",
                        ecosystem="Debian:12",
                    )
                )
            if package.name == "requests":
                findings.append(
                    Finding(
                        MEDIUM_CVE,
                        "GHSA-xxxx-yyyy-zzzz",
                        (),
                        package,
                        package.version,
                        None,
                        Severity("MEDIUM", 5.0, "CVSS_V3"),
                        "requests: header leak",
                        ecosystem="PyPI",
                    )
                )
        platforms.append(PlatformResult(inventory, findings))
    return ScanResult(target, platforms, "test-db-1")


@pytest.fixture
def matched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(scan_cmd, "_match", _fake_match)
    monkeypatch.chdir(tmp_path)  # no ./.trivyignore unless a test writes one
    yield


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["scan", *args])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ---- gates -------------------------------------------------------------------------


@pytest.mark.usefixtures("matched")
@pytest.mark.parametrize(
    ("flags", "status"),
    [
        ([], 0),  # report only: findings do not fail
        (["--exit-code", "1"], 1),
        (["--exit-code", "5"], 5),
        (["--exit-code", "1", "--severity", "CRITICAL,HIGH"], 1),
        (["--exit-code", "1", "--severity", "HIGH"], 0),  # nothing HIGH: passes
        (["--exit-code", "1", "-s", "medium"], 1),
        (["--exit-code", "1", "--severity", "MEDIUM", "--ignore-unfixed"], 0),
        (["--exit-code", "1", "--ignore-unfixed"], 1),
    ],
)
def test_exit_codes_follow_trivy(images: dict[str, Path], flags: list[str], status: int) -> None:
    result = run(f"oci:{images['layout']}:1.0", "--format", "json", *flags)
    assert result.exit_code == status, result.output


@pytest.mark.usefixtures("matched")
def test_severity_filters_what_is_shown(images: dict[str, Path]) -> None:
    result = run(str(images["layout"]), "--severity", "CRITICAL")
    assert result.exit_code == 0
    assert CRITICAL_CVE in result.stdout and MEDIUM_CVE not in result.stdout
    assert "Total: 1 (CRITICAL: 1)" in result.stdout
    document = json.loads(run(str(images["layout"]), "-f", "json", "-s", "MEDIUM").stdout)
    assert [v["id"] for v in document["results"][0]["vulnerabilities"]] == [MEDIUM_CVE]


@pytest.mark.usefixtures("matched")
def test_ignorefile_entry_works_until_it_expires(images: dict[str, Path], tmp_path: Path) -> None:
    ignore = tmp_path / "accepted.trivyignore"
    gate = [str(images["layout"]), "--severity", "CRITICAL", "--exit-code", "1"]
    ignore.write_text(f"# accepted until the fix ships\n{CRITICAL_CVE} exp:2999-01-01\n")
    assert run(*gate, "--ignorefile", str(ignore)).exit_code == 0
    ignore.write_text(f"{CRITICAL_CVE} exp:2000-01-01  # expired\n")
    expired = run(*gate, "--ignorefile", str(ignore))
    assert expired.exit_code == 1
    assert CRITICAL_CVE in expired.stdout
    # The record's own ID and the YAML format work as well.
    yaml_file = tmp_path / ".trivyignore.yaml"
    yaml_file.write_text("vulnerabilities:\n  - id: DSA-9999-1\n    statement: accepted\n")
    assert run(*gate, "--ignorefile", str(yaml_file)).exit_code == 0


@pytest.mark.usefixtures("matched")
def test_dot_trivyignore_in_the_working_directory_is_read_by_default(
    images: dict[str, Path], tmp_path: Path
) -> None:
    gate = [str(images["layout"]), "--severity", "CRITICAL", "--exit-code", "1"]
    assert run(*gate).exit_code == 1
    (tmp_path / ".trivyignore").write_text(f"{CRITICAL_CVE}\n")
    assert run(*gate).exit_code == 0


@pytest.mark.usefixtures("matched")
def test_bad_ignorefile_is_a_one_line_error(images: dict[str, Path], tmp_path: Path) -> None:
    assert "does not exist" in one_line_error(
        run(str(images["layout"]), "--ignorefile", str(tmp_path / "absent"))
    )
    bad = tmp_path / ".trivyignore"
    bad.write_text("CVE-1 exp:someday\n")
    assert "invalid expiry date" in one_line_error(run(str(images["layout"])))


def test_blocking_inventory_problem_fails_the_gate(
    images: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(scan_cmd, "_match", _fake_match)
    monkeypatch.chdir(tmp_path)
    image = f"oci:{images['berkeleydb']}"
    gate = run(image, "--format", "json", "--severity", "CRITICAL", "--exit-code", "1")
    assert gate.exit_code == 1
    assert "os-packages-not-inventoried" in gate.stderr
    (platform,) = json.loads(gate.stdout)["results"]
    assert platform["vulnerabilities"] == []
    assert [p["blocking"] for p in platform["problems"]] == [True]
    warn_only = run(image)
    assert warn_only.exit_code == 0
    assert "WARNING: os-packages-not-inventoried" in warn_only.stdout


# ---- image forms, formats, output --------------------------------------------------


@pytest.mark.usefixtures("matched")
@pytest.mark.parametrize(
    "form",
    [
        "oci:{layout}:1.0",
        "oci:{layout}",
        "{layout}",
        "oci-archive:{oci-tar}",
        "{oci-tar}",
        "docker-archive:{docker-tar}",
        "{docker-tar}",
    ],
)
def test_every_local_image_form_is_scanned(
    images: dict[str, Path], inventory: Inventory, form: str
) -> None:
    image = form.format(**{k: str(v) for k, v in images.items()})
    result = run(image, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["target"] == image
    (platform,) = document["results"]
    assert platform["packageCount"] == len(inventory.packages)
    assert {v["id"] for v in platform["vulnerabilities"]} == {CRITICAL_CVE, MEDIUM_CVE}


@pytest.mark.usefixtures("matched")
def test_output_writes_the_report_to_a_file(images: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "results.sarif"
    result = run(str(images["layout"]), "--format", "sarif", "--output", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    document = json.loads(target.read_text())
    assert document["version"] == "2.1.0"
    assert {r["ruleId"] for r in document["runs"][0]["results"]} == {CRITICAL_CVE, MEDIUM_CVE}
    table = tmp_path / "report.txt"
    assert run(str(images["layout"]), "-o", str(table)).exit_code == 0
    assert "Total: 2 (CRITICAL: 1, HIGH: 0, MEDIUM: 1, LOW: 0, UNKNOWN: 0)" in table.read_text()


@pytest.mark.usefixtures("matched")
def test_unwritable_output_is_a_one_line_error(images: dict[str, Path], tmp_path: Path) -> None:
    message = one_line_error(run(str(images["layout"]), "-o", str(tmp_path / "no" / "such.json")))
    assert "cannot write" in message


def _sbom_purls(name: str, document: dict[str, Any]) -> set[str]:
    if name == "cyclonedx":
        return {c["purl"] for c in document["components"] if c["type"] == "library"}
    return {r["referenceLocator"] for p in document["packages"] for r in p.get("externalRefs", [])}


@pytest.mark.parametrize("name", ["cyclonedx", "spdx"])
def test_sbom_lists_the_inventory_without_a_database(
    images: dict[str, Path],
    inventory: Inventory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(str(images["layout"]), "-f", name, "--db-dir", str(tmp_path / "empty-db"))
    assert result.exit_code == 0, result.output
    assert _sbom_purls(name, json.loads(result.stdout)) == {p.purl for p in inventory.packages}
    assert result.stderr == ""  # an SBOM needs no vulnerability data: nothing to warn about
    if name == "cyclonedx":
        # A gate on the SBOM's vulnerabilities does: it fails, saying nothing was checked.
        gate = run(
            str(images["layout"]),
            "-f",
            name,
            "--db-dir",
            str(tmp_path / "empty-db"),
            "--exit-code",
            "1",
        )
        assert gate.exit_code == 1 and "nothing was checked" in gate.stderr


def test_without_vulnerability_data_the_scan_warns_and_a_gate_fails(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = ["--db-dir", str(tmp_path / "empty-db")]
    report = run(str(images["layout"]), *db)
    assert report.exit_code == 0
    assert "no vulnerability data is loaded" in report.stderr
    assert "OS: Debian GNU/Linux 12 (bookworm)" in report.stdout
    gate = run(str(images["layout"]), *db, "--exit-code", "1")
    assert gate.exit_code == 1
    assert "nothing was checked" in gate.stderr


# ---- errors ------------------------------------------------------------------------


def test_unreadable_images_are_one_line_errors(images: dict[str, Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(b"this is not a tarball" * 100)
    assert "not a readable tar archive" in one_line_error(run(str(corrupt)))
    assert "not a readable tar archive" in one_line_error(run(f"oci-archive:{corrupt}"))
    assert "does not exist" in one_line_error(run(f"oci:{tmp_path / 'missing'}"))
    assert "no such file or directory" in one_line_error(run(str(tmp_path / "missing.tar")))
    assert "'9.9'" in one_line_error(run(f"oci:{images['layout']}:9.9"))
    assert "index.json" in one_line_error(run(str(tmp_path)))  # a directory that is no layout


def test_registry_references_need_a_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a local path: a registry image, on HOST or on --registry (tests/api covers those)."""
    monkeypatch.delenv("CARGOHOLD_REGISTRY", raising=False)
    for reference in ("library/alpine@sha256:" + "0" * 64, "nginx"):
        assert "no registry named" in one_line_error(run(reference))
    assert "cannot reach http://localhost:1" in one_line_error(run("localhost:1/app:1.0"))


def test_bad_usage_exits_2(images: dict[str, Path]) -> None:
    assert run(str(images["layout"]), "--severity", "SEVERE").exit_code == 2
    assert run(str(images["layout"]), "--format", "xml").exit_code == 2
    assert run(str(images["layout"]), "--exit-code", "-1").exit_code == 2
    assert run().exit_code == 2


def test_the_installed_command_prints_one_line_errors(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("cargohold")
    completed = subprocess.run(
        [str(command), "scan", f"oci:{tmp_path / 'missing'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1 and completed.stderr.startswith("error: ")


# ---- end to end: a real local database --------------------------------------------

OSV = Path(__file__).parents[1] / "data" / "osv"
GLIBC_CVE = "CVE-2023-4911"  # Debian 12 glibc before 2.36-9+deb12u3; HIGH (CVSS 7.8) upstream
REQUESTS_CVE = "CVE-2023-32681"  # requests before 2.31.0; MEDIUM (CVSS 6.1)


@pytest.fixture(scope="module")
def vulnerable_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian 12 with glibc as it was before DSA-5514-1, and requests 2.28.1."""
    status = (DATA / "dpkg" / "status-base").read_bytes()
    old_glibc = status.replace(b"2.36-9+deb12u14", b"2.36-9+deb12u1")
    assert old_glibc != status
    base = [
        File(e.path, old_glibc) if e.path == "var/lib/dpkg/status" else e for e in debian_base()
    ]
    spec = ImageSpec(layers=[base, dist_info(SITE, "requests", "2.28.1")])
    return oci_layout(tmp_path_factory.mktemp("vulnerable") / "layout", spec)


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("vulndb")
    result = CliRunner().invoke(app, ["vulndb", "import", str(OSV), "--db-dir", str(directory)])
    assert result.exit_code == 0, result.output
    return directory


def test_end_to_end_scan_against_an_imported_database(
    vulnerable_image: Path, db_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = ["--db-dir", str(db_dir)]
    report = run(str(vulnerable_image), *db, "--format", "json")
    assert report.exit_code == 0, report.output
    assert "no vulnerability data" not in report.stderr
    document = json.loads(report.stdout)
    assert document["dbVersion"] and document["dbVersion"] != "0-none"
    found = {(v["id"], v["pkgName"]): v for v in document["results"][0]["vulnerabilities"]}
    assert {(GLIBC_CVE, "libc6"), (GLIBC_CVE, "libc-bin"), (REQUESTS_CVE, "requests")} <= set(found)
    glibc = found[(GLIBC_CVE, "libc6")]
    assert (glibc["severity"], glibc["fixedVersion"]) == ("HIGH", "2.36-9+deb12u3")
    assert found[(REQUESTS_CVE, "requests")]["fixedVersion"] == "2.31.0"

    gate = [str(vulnerable_image), *db, "--exit-code", "1"]
    assert run(*gate, "--severity", "CRITICAL").exit_code == 0
    failed = run(*gate, "--severity", "CRITICAL,HIGH")
    assert failed.exit_code == 1
    assert GLIBC_CVE in failed.stdout and REQUESTS_CVE not in failed.stdout
    (tmp_path / ".trivyignore").write_text("DSA-5514-1  # glibc: accepted\n")
    assert run(*gate, "--severity", "CRITICAL,HIGH").exit_code == 0
    (tmp_path / ".trivyignore").write_text(f"{GLIBC_CVE} exp:2001-01-01\n")
    assert run(*gate, "--severity", "CRITICAL,HIGH").exit_code == 1

    sarif_file = tmp_path / "results.sarif"
    assert run(str(vulnerable_image), *db, "-f", "sarif", "-o", str(sarif_file)).exit_code == 0
    results = json.loads(sarif_file.read_text())["runs"][0]["results"]
    levels = {(r["ruleId"], r["level"]) for r in results}
    assert {(GLIBC_CVE, "error"), (REQUESTS_CVE, "warning")} <= levels
