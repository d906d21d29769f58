"""Registry tokens: what is issued, key rotation, and each attack a forged token makes.

Every attack is a real token built here (by hand where PyJWT would refuse to build it) and
handed to the verifier, which must refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cargohold.meta.store import MetadataStore
from cargohold.meta.token_revocations import TokenRevocationRecords, anonymous_in, revoke_tokens
from cargohold.policy.scopes import ResourceScope, covers, pulled_projects, without_pull
from cargohold.services import token_keys
from cargohold.services.token_keys import KeyRing, key_id
from cargohold.services.token_revocations import TokenRevocations
from cargohold.services.tokens import InvalidToken, TokenService

NOW = 1_800_000_000.0
ACCESS = [ResourceScope("repository", "team/app", ("pull", "push"))]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(tmp_path: Path, clock: Clock) -> TokenService:
    return TokenService(KeyRing(tmp_path / "keys", clock), "cargohold", "registry", 300, clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": "cargohold",
        "sub": "alice",
        "aud": "registry",
        "exp": int(NOW) + 300,
        "nbf": int(NOW),
        "iat": int(NOW),
        "jti": "j1",
        "access": [s.as_claim() for s in ACCESS],
    }
    base.update(changes)
    return base


def signed(tokens: TokenService, body: dict[str, object]) -> str:
    """A token signed with the service's own current key (so only the claims are wrong)."""
    key = tokens.keys.current()
    return jwt.encode(body, key.private_key, algorithm="ES256", headers={"kid": key.kid})


def test_issued_token_carries_the_spec_claims(tokens: TokenService) -> None:
    issued = tokens.issue("alice", ACCESS)
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "ES256" and header["kid"] == tokens.keys.current().kid
    assert len(header["kid"].split(":")) == 12
    body = jwt.decode(issued.token, options={"verify_signature": False})
    assert set(body) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert body["exp"] - body["iat"] == 300 and issued.expires_in == 300
    assert issued.issued_at == "2027-01-15T08:00:00Z"
    verified = tokens.verify(issued.token)
    assert verified.subject == "alice" and covers(verified.access, "team/app", "push")


def test_expiry_is_never_below_sixty_seconds(tmp_path: Path, clock: Clock) -> None:
    short = TokenService(KeyRing(tmp_path, clock), "cargohold", "registry", 5, clock)
    assert short.issue("", []).expires_in == 60


def test_alg_none_is_refused(tokens: TokenService) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": tokens.keys.current().kid}
    forged = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}."
    with pytest.raises(InvalidToken, match="algorithm"):
        tokens.verify(forged)


def test_hs256_signed_with_the_public_key_is_refused(tokens: TokenService) -> None:
    # The classic key-confusion attack: the public key (which anyone may know) as an HMAC secret.
    key = tokens.keys.current()
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        tokens.verify(f"{signing_input}.{b64(mac)}")


def test_expired_token_is_refused(tokens: TokenService, clock: Clock) -> None:
    issued = tokens.issue("alice", ACCESS)
    assert tokens.verify(issued.token).subject == "alice"  # now cached
    clock.now = NOW + 300
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(issued.token)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(signed(tokens, claims(exp=int(NOW) - 1)))


def test_token_not_valid_yet_is_refused(tokens: TokenService) -> None:
    with pytest.raises(InvalidToken, match="not valid yet"):
        tokens.verify(signed(tokens, claims(nbf=int(NOW) + 3600, exp=int(NOW) + 7200)))


def test_token_for_another_audience_or_issuer_is_refused(tokens: TokenService) -> None:
    with pytest.raises(InvalidToken, match="another service"):
        tokens.verify(signed(tokens, claims(aud="other-registry")))
    with pytest.raises(InvalidToken, match="another issuer"):
        tokens.verify(signed(tokens, claims(iss="someone-else")))


def test_token_lacking_a_claim_is_refused(tokens: TokenService) -> None:
    body = claims()
    del body["jti"]
    with pytest.raises(InvalidToken):
        tokens.verify(signed(tokens, body))


def test_tampered_payload_is_refused_even_after_the_original_was_cached(
    tokens: TokenService,
) -> None:
    issued = tokens.issue("alice", ACCESS)
    tokens.verify(issued.token)  # the verdict is cached under this signature
    header, _, signature = issued.token.split(".")
    wider = claims(access=[{"type": "repository", "name": "team/app", "actions": ["*"]}])
    forged = f"{header}.{b64(json.dumps(wider).encode())}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        tokens.verify(forged)


def test_token_signed_by_a_foreign_key_is_refused(tokens: TokenService) -> None:
    foreign = ec.generate_private_key(ec.SECP256R1())
    # Under its own kid: unknown; under ours: the signature does not match.
    for kid in (key_id(foreign.public_key()), tokens.keys.current().kid):
        forged = jwt.encode(claims(), foreign, algorithm="ES256", headers={"kid": kid})
        with pytest.raises(InvalidToken):
            tokens.verify(forged)


def test_token_for_another_repository_does_not_cover_this_one(tokens: TokenService) -> None:
    other = [ResourceScope("repository", "team/other", ("pull", "push"))]
    verified = tokens.verify(tokens.issue("alice", other).token)
    assert not covers(verified.access, "team/app", "pull")


def test_malformed_tokens_are_refused(tokens: TokenService) -> None:
    for text in ("", "abc", "a.b.c", "....", b64(b"{}") + ".x.y"):
        with pytest.raises(InvalidToken):
            tokens.verify(text)


def test_rotation_signs_with_the_new_key_and_old_tokens_stay_valid(
    tmp_path: Path, clock: Clock
) -> None:
    ring = KeyRing(tmp_path / "keys", clock)
    tokens = TokenService(ring, "cargohold", "registry", 300, clock)
    old = tokens.issue("alice", ACCESS)
    first = ring.current()
    second = ring.rotate()
    assert second.number == first.number + 1 and second.kid != first.kid
    new = tokens.issue("alice", ACCESS)
    assert jwt.get_unverified_header(new.token)["kid"] == second.kid
    # Another node reading the same directory verifies both.
    other_node = TokenService(
        KeyRing(tmp_path / "keys", clock), "cargohold", "registry", 300, clock
    )
    assert other_node.verify(old.token).subject == "alice"
    assert other_node.verify(new.token).subject == "alice"
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "key-0001.pem",
        "key-0002.pem",
    ]
    assert oct((tmp_path / "keys" / "key-0002.pem").stat().st_mode & 0o777) == "0o600"


def test_a_node_finds_a_key_another_node_rotated_in(tmp_path: Path, clock: Clock) -> None:
    reader = TokenService(KeyRing(tmp_path, clock), "cargohold", "registry", 300, clock)
    writer = TokenService(KeyRing(tmp_path, clock), "cargohold", "registry", 300, clock)
    reader.keys.current()  # loads the first key
    writer.keys.rotate()
    token = writer.issue("bob", []).token
    clock.now += 10  # past the reload interval
    assert reader.verify(token).subject == "bob"


def test_a_node_signs_with_a_key_rotated_in_elsewhere(tmp_path: Path, clock: Clock) -> None:
    """`cargohold admin rotate-token-key` adds a key beside running servers: each signs with
    it once it reads the directory again, which it does at most every few seconds."""
    server = TokenService(KeyRing(tmp_path, clock), "cargohold", "registry", 300, clock)
    first = server.issue("bob", []).token
    added = KeyRing(tmp_path, clock).rotate()
    assert jwt.get_unverified_header(server.issue("bob", []).token)["kid"] != added.kid
    clock.now += 10  # past the reload interval
    assert jwt.get_unverified_header(server.issue("bob", []).token)["kid"] == added.kid
    assert server.verify(first).subject == "bob"


def test_a_re_read_parses_only_new_key_files_and_forgets_removed_ones(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ring reads the directory every few seconds, on the signing path too: a key it
    parsed before is not parsed again; a key removed from the directory stops verifying."""
    ring = KeyRing(tmp_path, clock)
    first = ring.current()
    KeyRing(tmp_path, clock).rotate()
    parsed: list[str] = []
    real_load = token_keys._load

    def counting_load(path: Path, number: int) -> token_keys.SigningKey:
        parsed.append(path.name)
        return real_load(path, number)

    monkeypatch.setattr(token_keys, "_load", counting_load)
    clock.now += 10
    assert ring.current().number == 2
    assert parsed == ["key-0002.pem"]
    clock.now += 10
    ring.current()
    assert parsed == ["key-0002.pem"]  # nothing new: a listing only
    (tmp_path / "key-0001.pem").unlink()
    clock.now += 10
    assert ring.current().number == 2
    assert ring.public_key(first.kid) is None


def test_a_verdict_is_cached_for_the_token_lifetime(
    tokens: TokenService, tmp_path: Path, clock: Clock
) -> None:
    issued = tokens.issue("alice", ACCESS)
    tokens.verify(issued.token)
    # With the keys gone, only the cached verdict can accept the token again.
    tokens.keys = KeyRing(tmp_path / "no-keys-here", clock)
    assert tokens.verify(issued.token).subject == "alice"
    clock.now = NOW + 300
    with pytest.raises(InvalidToken):
        tokens.verify(issued.token)


def test_the_issuing_process_knows_its_tokens_verdict_without_a_signature_check(
    tokens: TokenService, tmp_path: Path, clock: Clock
) -> None:
    """A client brings a token back on the connection it fetched it on: the process that
    issued it accepts it from what it issued, with the verdict any other process would reach
    by checking the signature."""
    issued = tokens.issue("alice", ACCESS)
    elsewhere = TokenService(tokens.keys, "cargohold", "registry", 300, clock)
    checked = elsewhere.verify(issued.token)
    tokens.keys = KeyRing(tmp_path / "no-keys-here", clock)  # no signature check can pass now
    assert tokens.verify(issued.token) == checked
    assert covers(checked.access, "team/app", "push")
    clock.now = NOW + 300
    with pytest.raises(InvalidToken):
        tokens.verify(issued.token)


# -- the same grant again: the token signed for it ---------------------------------------------


def reusing(
    tmp_path: Path, clock: Clock, revocations: TokenRevocations | None = None
) -> TokenService:
    return TokenService(
        KeyRing(tmp_path / "keys", clock),
        "cargohold",
        "registry",
        300,
        clock,
        revocations=revocations,
        reuse_seconds=10,
    )


def test_the_same_grant_within_the_reuse_window_gets_the_same_token(
    tmp_path: Path, clock: Clock
) -> None:
    tokens = reusing(tmp_path, clock)
    first = tokens.issue("alice", ACCESS)
    clock.now += 9.5
    again = tokens.issue("alice", ACCESS, checked_at=clock.now)
    # As it was: the client reckons its expiry from the first answer's issued_at.
    assert again == first
    assert tokens.verify(again.token).expires_at == NOW + 300
    # Another subject, another grant, another key: each its own token.
    assert tokens.issue("bob", ACCESS).token != first.token
    narrower = [ResourceScope("repository", "team/app", ("pull",))]
    assert tokens.issue("alice", narrower).token != first.token
    clock.now += 0.5  # the window is over: a new token, kept from now on
    later = tokens.issue("alice", ACCESS)
    assert later.token != first.token and later.issued_at == "2027-01-15T08:00:10Z"
    assert tokens.issue("alice", ACCESS) == later


def test_no_reuse_window_signs_a_new_token_every_time(tokens: TokenService) -> None:
    first, second = tokens.issue("alice", ACCESS), tokens.issue("alice", ACCESS)
    jtis = [
        jwt.decode(t.token, options={"verify_signature": False})["jti"] for t in (first, second)
    ]
    assert jtis[0] != jtis[1]


def test_a_reused_token_always_has_sixty_seconds_to_live(tmp_path: Path, clock: Clock) -> None:
    short = TokenService(
        KeyRing(tmp_path, clock), "cargohold", "registry", 65, clock, reuse_seconds=30
    )
    assert short.reuse_seconds == 5
    first = short.issue("alice", ACCESS)
    clock.now += 5
    assert short.issue("alice", ACCESS) != first


def test_a_rotated_key_signs_a_new_token(tmp_path: Path, clock: Clock) -> None:
    tokens = reusing(tmp_path, clock)
    first = tokens.issue("alice", ACCESS)
    tokens.keys.rotate()
    again = tokens.issue("alice", ACCESS)
    assert again != first
    assert jwt.get_unverified_header(again.token)["kid"] == tokens.keys.current().kid


def test_a_token_whose_subject_was_revoked_is_not_handed_out_again(
    tmp_path: Path, clock: Clock, meta: MetadataStore
) -> None:
    revocations = TokenRevocations(TokenRevocationRecords(meta.db), 300, clock)
    tokens = reusing(tmp_path, clock, revocations)
    first = tokens.issue("alice", ACCESS)
    clock.now += 3
    with meta.db.transaction() as tx:
        revoke_tokens(tx, "alice", clock.now - 1.5)
    revocations.refresh()
    with pytest.raises(InvalidToken):
        tokens.verify(first.token)
    again = tokens.issue("alice", ACCESS)
    assert again != first
    assert tokens.verify(again.token).subject == "alice"


def test_an_anonymous_token_for_a_project_made_private_is_not_handed_out_again(
    tmp_path: Path, clock: Clock, meta: MetadataStore
) -> None:
    revocations = TokenRevocations(TokenRevocationRecords(meta.db), 300, clock)
    tokens = reusing(tmp_path, clock, revocations)
    pulls = [
        ResourceScope("repository", "open/app", ("pull",)),
        ResourceScope("repository", "other/app", ("pull",)),
    ]
    first = tokens.issue("", pulls)
    with meta.db.transaction() as tx:
        revoke_tokens(tx, anonymous_in("elsewhere"), clock.now)
    revocations.refresh()
    clock.now += 2
    assert tokens.issue("", pulls) == first  # another project's change leaves it whole
    with meta.db.transaction() as tx:
        revoke_tokens(tx, anonymous_in("other"), clock.now)
    revocations.refresh()
    # Public again with the same grant asked for: a token issued after the change.
    clock.now += 2
    again = tokens.issue("", pulls)
    assert again != first
    assert revocations.anonymous_access(tokens.verify(again.token).access, clock.now) == tuple(
        pulls
    )


def test_a_signed_in_token_s_pulls_in_a_project_made_private_since_are_to_be_confirmed(
    tmp_path: Path, clock: Clock, meta: MetadataStore
) -> None:
    """Its pull there may have come from the project being public: the access check asks
    whether the subject still pulls (api/access_check.py). Not for a token issued after the
    change (and its grace), nor for an anonymous one (access_now drops those), nor for a
    project whose repositories it may not pull from."""
    revocations = TokenRevocations(TokenRevocationRecords(meta.db), 300, clock)
    tokens = reusing(tmp_path, clock, revocations)
    access = [
        ResourceScope("repository", "open/app", ("pull",)),
        ResourceScope("repository", "open/lib", ("*",)),
        ResourceScope("repository", "other/app", ("pull", "push")),
        ResourceScope("repository", "pushed/app", ("push",)),
    ]
    before = tokens.verify(tokens.issue("visitor", access).token)
    assert tokens.pulls_to_confirm(before) == set()
    with meta.db.transaction() as tx:
        for project in ("open", "pushed"):
            revoke_tokens(tx, anonymous_in(project), clock.now)
    revocations.refresh()
    assert tokens.pulls_to_confirm(before) == {"open"}
    assert tokens.pulls_to_confirm(tokens.verify(tokens.issue("", access).token)) == set()
    clock.now += 2
    after = tokens.verify(tokens.issue("visitor", access).token)
    assert after.jti != before.jti  # signed anew, not handed out again
    assert tokens.pulls_to_confirm(after) == set()


def test_without_pull_takes_pull_and_star_away_in_those_projects_alone() -> None:
    access = (
        ResourceScope("repository", "open/app", ("pull",)),
        ResourceScope("repository", "open/lib", ("*",)),
        ResourceScope("repository", "open/tool", ("pull", "push")),
        ResourceScope("repository", "other/app", ("pull",)),
        ResourceScope("registry", "catalog", ("*",)),
    )
    assert without_pull(access, {"open"}) == (
        ResourceScope("repository", "open/app", ()),
        ResourceScope("repository", "open/lib", ("delete", "push")),
        ResourceScope("repository", "open/tool", ("push",)),
        ResourceScope("repository", "other/app", ("pull",)),
        ResourceScope("registry", "catalog", ("*",)),
    )
    assert pulled_projects(access) == {"open", "other"}
