"""Boolean query flags of the admin API are `true` or `false`, on every route alike: anything
else is a 400 that names the flag, never a silent false (`dryRun=maybe` must not collect)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.oci import error_code, push_image


@pytest.mark.parametrize(
    ("path", "flag", "code"),
    [
        ("/api/v1/gc", "dryRun", "QUERY_INVALID"),
        ("/api/v1/gc", "untagged", "QUERY_INVALID"),
        ("/api/v1/fsck", "repair", "QUERY_INVALID"),
        ("/api/v1/fsck", "verifyContent", "QUERY_INVALID"),
        ("/api/v1/vulndb/import", "full", "VULNDB_IMPORT_INVALID"),
        ("/api/v1/vulndb/import", "allowEmpty", "VULNDB_IMPORT_INVALID"),
    ],
)
@pytest.mark.parametrize("value", ["maybe", "1", "yes", "TRUE", ""])
def test_a_flag_that_is_not_true_or_false_is_refused(
    client: httpx.Client, path: str, flag: str, code: str, value: str
) -> None:
    response = client.post(path, params={flag: value}, content=b"{}")
    assert (response.status_code, error_code(response)) == (400, code), response.text
    error = response.json()["errors"][0]
    assert error["message"] == f"{flag} must be true or false, got {value!r}"
    assert error["detail"] == {"parameter": flag}


def test_a_scan_on_demand_takes_a_strict_rescan_flag(client: httpx.Client, repo: str) -> None:
    digest, _ = push_image(client, repo, "v1")
    path = f"/api/v1/repositories/{repo}/manifests/{digest}/scan"
    response = client.post(path, params={"rescan": "maybe"})
    assert (response.status_code, error_code(response)) == (400, "SCAN_INVALID")
    assert response.json()["errors"][0]["message"] == "rescan must be true or false, got 'maybe'"
    assert client.post(path, params={"rescan": "false"}).status_code == 202
