"""Reading the Authorization header: what the token endpoint and the route checks rely on."""

from __future__ import annotations

import base64

import pytest

from cargohold.api.credentials import (
    BasicCredentials,
    BearerToken,
    CredentialsMalformed,
    parse_authorization,
)


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_no_header_means_no_credentials() -> None:
    assert parse_authorization(None) is None
    assert parse_authorization("   ") is None


def test_basic_splits_at_the_first_colon() -> None:
    assert parse_authorization(_basic("alice:pa:ss")) == BasicCredentials("alice", "pa:ss")
    assert parse_authorization(_basic("robot$ci:s3cret")) == BasicCredentials("robot$ci", "s3cret")


def test_only_a_refresh_token_may_come_without_a_name() -> None:
    # BuildKit sends docker's identitytoken so; the token names its holder.
    assert parse_authorization(_basic(":chrt_abc")) == BasicCredentials("", "chrt_abc")
    with pytest.raises(CredentialsMalformed):
        parse_authorization(_basic(":chpat_abc"))


def test_schemes_are_case_insensitive() -> None:
    assert parse_authorization("bearer abc.def.ghi") == BearerToken("abc.def.ghi")
    assert parse_authorization(_basic("a:b").replace("Basic", "BASIC")) == BasicCredentials(
        "a", "b"
    )


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!notbase64-hunter2",
        _basic("hunter2-no-colon"),
        _basic(":hunter2"),
        "Basic " + base64.b64encode(b"\xff\xfe:hunter2").decode(),
        "Bearer ",
        "Bearer hunter2 hunter2",
        "Bearer hunter2\thunter2",
        "Digest username=hunter2",
        "Bearer hunter2" + "a" * 20000,
    ],
)
def test_malformed_headers_are_refused_without_echoing_them(header: str) -> None:
    with pytest.raises(CredentialsMalformed) as refused:
        parse_authorization(header)
    assert "hunter2" not in str(refused.value)


def test_secrets_stay_out_of_reprs() -> None:
    assert "hunter2" not in repr(BasicCredentials("alice", "hunter2"))
    assert "tok" not in repr(BearerToken("tok"))
