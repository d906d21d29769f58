"""Report writers: one module per output format, each a pure `write(result, stream)`.

`table` (rich, for people), `json` (cargohold's documented shape), `sarif` (SARIF 2.1.0
for GitHub code scanning), `cyclonedx` (CycloneDX 1.5 SBOM with vulnerabilities) and
`spdx` (SPDX 2.3 SBOM). They write the findings they are given: filter first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from cargohold.scan.findings import ScanResult
from cargohold.scan.report import cyclonedx, json, sarif, spdx, table

Writer = Callable[[ScanResult, TextIO], None]

WRITERS: dict[str, Writer] = {
    "table": table.write,
    "json": json.write,
    "sarif": sarif.write,
    "cyclonedx": cyclonedx.write,
    "spdx": spdx.write,
}

# Formats whose output lists vulnerabilities; SPDX 2.3 describes packages only.
VULNERABILITY_FORMATS = frozenset({"table", "json", "sarif", "cyclonedx"})
# Software bills of materials: complete without vulnerability data (CycloneDX adds what the
# database knows, when there is one).
SBOM_FORMATS = frozenset({"cyclonedx", "spdx"})

__all__ = ["SBOM_FORMATS", "VULNERABILITY_FORMATS", "WRITERS", "Writer"]
