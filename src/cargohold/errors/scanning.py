"""The scanning extension's errors: scans, scan policies, the CVE allowlist and the
vulnerability database. Plain classes, loaded with the catalogue even when scanning is off."""

from __future__ import annotations

from cargohold.errors.base import RegistryError


class ScanRequestInvalid(RegistryError):
    """SCAN_INVALID: a scan request with bad parameters."""

    code = "SCAN_INVALID"
    status = 400
    default_message = "invalid scan request"


class ScanUnknown(RegistryError):
    """SCAN_UNKNOWN: the image has not been scanned yet."""

    code = "SCAN_UNKNOWN"
    status = 404
    default_message = "this image has not been scanned yet"


class ScanFailed(RegistryError):
    """SCAN_FAILED: the image's scan failed; the detail says why (`reason`) and the message
    how to scan it again."""

    code = "SCAN_FAILED"
    status = 409
    default_message = "the scan of this image failed"


class ScanPolicyInvalid(RegistryError):
    """SCAN_POLICY_INVALID: a scan gate policy that fails validation."""

    code = "SCAN_POLICY_INVALID"
    status = 400
    default_message = "invalid scan policy"


class AllowlistInvalid(RegistryError):
    """ALLOWLIST_INVALID: a vulnerability allowlist entry that fails validation."""

    code = "ALLOWLIST_INVALID"
    status = 400
    default_message = "invalid allowlist entry"


class AllowlistUnknown(RegistryError):
    """ALLOWLIST_UNKNOWN: no allowlist entry with this id."""

    code = "ALLOWLIST_UNKNOWN"
    status = 404
    default_message = "no such allowlist entry"


class VulnDbImportInvalid(RegistryError):
    """VULNDB_IMPORT_INVALID: vulnerability records that could not be imported."""

    code = "VULNDB_IMPORT_INVALID"
    status = 400
    default_message = "the vulnerability records could not be imported"


class VulnDbImportRefused(RegistryError):
    """VULNDB_IMPORT_REFUSED: an import that would remove every record of its source."""

    code = "VULNDB_IMPORT_REFUSED"
    status = 409
    default_message = "the import would remove every record of its source"
