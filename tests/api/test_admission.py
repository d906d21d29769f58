"""The Kubernetes admission webhook against a real server (SQLite and PostgreSQL), called as a
cluster's API server calls it: AdmissionReview v1 requests about workloads built with the
`kubernetes` package's models, the cluster's bearer token, and answers checked against the
Kubernetes API types (tests/support/admission.py).

What a platform team relies on: an image of this registry runs only when its digest is here,
signed by a trusted key of its project and not refused by the project's scan policy; every
refusal names the container and the reason; the mutating webhook pins what was verified;
what was admitted is recorded (not on a dry run), shown by `cargohold where`, and kept from
lifecycle policies and garbage collection.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import secrets
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.meta.admissions import AdmissionRecords, AdmissionRow
from cargohold.policy.permissions import Role
from tests.api.test_openapi_responses import _response_schema, _validate
from tests.api.test_scanning import GLIBC_CVE, OSV, VULNERABLE
from tests.scan.imagebuild import oci_layout
from tests.support.accounts import Accounts, Login
from tests.support.admission import answer, patch_of, pod_spec, review, workload
from tests.support.images import push_layout
from tests.support.oci import encode, error_code, image_manifest, push_image, put_manifest, sha256
from tests.support.server import CARGOHOLD, CargoholdServer
from tests.support.signing import SigningKey, sign

PASSWORD = "correct horse battery"
_projects = itertools.count()


def _token_setting(tokens: dict[str, str]) -> str:
    return ",".join(
        f"{cluster}=sha256:{hashlib.sha256(token.encode()).hexdigest()}"
        for cluster, token in tokens.items()
    )


def _server(
    tmp: Path, database_url: str, tokens: dict[str, str], **settings: str
) -> CargoholdServer:
    env = {
        "CARGOHOLD_ADMISSION_TOKENS": _token_setting(tokens),
        # Untagged images are garbage at once (the GC test), and no login is held back.
        "CARGOHOLD_GC_GRACE_SECONDS": "0",
        **{f"CARGOHOLD_{name.upper()}": value for name, value in settings.items()},
    }
    return CargoholdServer(tmp / "data", database_url=database_url, extra_env=env).start()


@dataclass
class Webhook:
    server: CargoholdServer
    tokens: dict[str, str]

    @property
    def host(self) -> str:
        return self.server.host

    def call(
        self, document: Any, cluster: str | None = "prod", mutate: bool = False, **kw: Any
    ) -> httpx.Response:
        path = "/api/v1/admission" + (f"/clusters/{cluster}" if cluster else "")
        path += "/mutate" if mutate else ""
        token = kw["token"] if "token" in kw else self.tokens[cluster or "default"]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = document if isinstance(document, bytes) else json.dumps(document).encode()
        return httpx.post(
            self.server.url + path,
            content=content,
            headers={**headers, "Content-Type": "application/json"},
            timeout=60,
        )

    def admit(self, document: dict[str, Any], **kw: Any) -> dict[str, Any]:
        """The checked response to an AdmissionReview request."""
        response = self.call(document, **kw)
        assert response.status_code == 200, response.text
        return answer(document, response.json())


@dataclass
class Project:
    """A project with a project admin (who pushes, signs and manages its keys) and keys."""

    hook: Webhook
    name: str
    login: Login
    admin: httpx.Client
    trusted: SigningKey
    other: SigningKey

    def repo(self, name: str) -> str:
        return f"{self.name}/{name}"

    def image(self, repo: str, reference: str) -> str:
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"{self.hook.host}/{repo}{separator}{reference}"

    def push(self, repo: str, tag: str, signed_by: SigningKey | None = None) -> str:
        digest, _ = push_image(self.admin, repo, tag, layers=[secrets.token_bytes(16)])
        if signed_by is not None:
            sign(self.admin, self.hook.host, repo, digest, signed_by)
        return digest

    def trust(self, key: SigningKey) -> None:
        added = self.admin.post(f"/api/v1/projects/{self.name}/trust/keys", json={"pem": key.pem})
        assert added.status_code == 201, added.text

    def where(self, repo: str, reference: str) -> dict[str, Any]:
        found = self.admin.get(
            f"/api/v1/repositories/{repo}/admissions", params={"reference": reference}
        )
        assert found.status_code == 200, found.text
        return found.json()  # type: ignore[no-any-return]


@contextmanager
def _project(hook: Webhook) -> Iterator[Project]:
    name = f"adm{next(_projects)}"
    accounts = Accounts(hook.server)
    accounts.project(name)
    user = f"{name}-admin"
    accounts.user(user, PASSWORD)
    accounts.member(name, user, Role.PROJECT_ADMIN)
    login = accounts.token(user)
    accounts.close()
    with httpx.Client(base_url=hook.server.url, auth=login.auth, timeout=60) as admin:
        project = Project(hook, name, login, admin, SigningKey.generate(), SigningKey.generate())
        project.trust(project.trusted)
        yield project


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hook(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webhook]:
    database_url = ""
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres").create_database(
            f"cargohold_admission_{uuid.uuid4().hex[:8]}"
        )
    tokens = {"prod": secrets.token_urlsafe(32), "default": secrets.token_urlsafe(32)}
    server = _server(tmp_path_factory.mktemp(f"admission-{request.param}"), database_url, tokens)
    yield Webhook(server, tokens)
    server.stop()


@pytest.fixture
def project(hook: Webhook) -> Iterator[Project]:
    with _project(hook) as made:
        yield made


def test_a_signed_image_is_admitted_recorded_and_pinned(project: Project) -> None:
    repo = project.repo("web")
    digest = project.push(repo, "v1", signed_by=project.trusted)
    tagged = project.image(repo, "v1")
    deployment = workload("Deployment", "web", "shop", pod_spec(tagged))

    admitted = project.hook.admit(review(deployment))
    assert admitted == {"uid": admitted["uid"], "allowed": True}
    found = project.where(repo, "v1")
    assert found["digest"] == digest and found["keepDays"] == 30
    ((row),) = found["admissions"]
    assert (row["cluster"], row["namespace"], row["kind"], row["name"]) == (
        "prod",
        "shop",
        "Deployment",
        "web",
    )
    assert (row["repository"], row["digest"], row["image"]) == (repo, digest, tagged)
    # The listing is the document the OpenAPI description promises.
    document = project.admin.get("/api/v1/openapi.json").json()
    path = "/api/v1/repositories/{name}/admissions"
    _validate(document, _response_schema(document, path, "get", "200"), found)

    # The mutating webhook pins the tag to the digest it verified, and records nothing.
    mutated = project.hook.admit(review(deployment), mutate=True)
    assert patch_of(mutated) == [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": project.image(repo, digest),
        }
    ]
    pinned = workload("Pod", "web-1", "shop", pod_spec(project.image(repo, digest)))
    assert "patch" not in project.hook.admit(review(pinned), mutate=True)
    assert len(project.where(repo, digest)["admissions"]) == 1

    # A dry run is judged and records nothing; the URL without a cluster is "default".
    dry = workload("Pod", "dry", "shop", pod_spec(tagged))
    assert project.hook.admit(review(dry, dry_run=True))["allowed"] is True
    assert project.hook.admit(review(pinned), cluster=None)["allowed"] is True
    rows = project.where(repo, digest)["admissions"]
    assert sorted((r["cluster"], r["kind"], r["name"]) for r in rows) == [
        ("default", "Pod", "web-1"),
        ("prod", "Deployment", "web"),
    ]


def test_every_refusal_names_the_container_and_the_reason(project: Project) -> None:
    repo = project.repo("api")
    project.push(repo, "good", signed_by=project.trusted)
    unsigned = project.push(repo, "unsigned")
    foreign_key = project.push(repo, "other-key", signed_by=project.other)
    spec = pod_spec(
        project.image(repo, "good"),
        project.image(repo, "unsigned"),
        project.image(repo, "other-key"),
        project.image(repo, "missing"),
        init=("docker.io/library/busybox:1.36",),
    )
    refused = project.hook.admit(review(workload("CronJob", "nightly", "batch", spec)))
    assert refused["allowed"] is False
    message = refused["status"]["message"]
    fingerprint = project.trusted.fingerprint
    assert (
        f'container "c1" (containers[1]): image {project.image(repo, "unsigned")}: '
        f"image {unsigned} is not signed; project {project.name} requires signed images"
    ) in message
    assert f"expected a signature by one of: {fingerprint}" in message
    assert (
        f'container "c2" (containers[2]): image {project.image(repo, "other-key")}: '
        f"image {foreign_key} has no valid signature by a trusted key of project {project.name}"
    ) in message
    assert (
        f'container "c3" (containers[3]): image {project.image(repo, "missing")} is not in this '
        "registry"
    ) in message
    assert message.startswith(  # init containers first, as they run
        'container "init0" (initContainers[0]): image docker.io/library/busybox:1.36 is from '
        "docker.io, not this registry, and images of other registries are refused"
    )
    assert 'container "c0"' not in message
    # Nothing of a refused workload is recorded.
    assert project.where(repo, "good")["admissions"] == []


def test_a_moved_tag_and_a_key_removed_after_signing(project: Project) -> None:
    repo = project.repo("moving")
    signed = project.push(repo, "v1", signed_by=project.trusted)
    pod = workload("Pod", "p", "shop", pod_spec(project.image(repo, "v1")))
    assert project.hook.admit(review(pod))["allowed"] is True

    # The signature binds the digest: another image pushed under the tag is refused, the signed
    # one under a new tag is admitted.
    moved = project.push(repo, "v1")
    refused = project.hook.admit(review(pod))
    assert f"image {moved} is not signed" in refused["status"]["message"]
    retagged = put_manifest(
        project.admin,
        repo,
        "v2",
        project.admin.get(
            f"/v2/{repo}/manifests/{signed}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).content,
        "application/vnd.oci.image.manifest.v1+json",
    )
    assert retagged.status_code == 201, retagged.text
    again = workload("Pod", "p2", "shop", pod_spec(project.image(repo, "v2")))
    assert project.hook.admit(review(again))["allowed"] is True

    # The key that signed it is removed: it no longer runs.
    fingerprint = project.trusted.fingerprint
    removed = project.admin.delete(f"/api/v1/projects/{project.name}/trust/keys/{fingerprint}")
    assert removed.status_code == 204, removed.text
    refused = project.hook.admit(review(again))
    assert refused["allowed"] is False
    assert f"image {signed} has no valid signature by a trusted key" in refused["status"]["message"]


def _osv_zip(into: Path) -> bytes:
    with zipfile.ZipFile(into, "w") as archive:
        for path in sorted(OSV.glob("*.json")):
            archive.write(path, path.name)
    return into.read_bytes()


def test_a_vulnerable_image_is_refused_by_its_projects_scan_policy(
    project: Project, tmp_path: Path
) -> None:
    with project.hook.server.client(timeout=120) as system_admin:
        imported = system_admin.post(
            "/api/v1/vulndb/import",
            params={"name": "admission-advisories"},
            content=_osv_zip(tmp_path / "osv.zip"),
        )
        assert imported.status_code == 200, imported.text
    repo = project.repo("debian")
    digest = push_layout(
        project.admin, oci_layout(tmp_path / "image", VULNERABLE), "latest", repo, "1"
    )
    sign(project.admin, project.hook.host, repo, digest, project.trusted)
    pod = workload("Pod", "deb", "shop", pod_spec(project.image(repo, "1")))
    assert project.hook.admit(review(pod))["allowed"] is True  # no scan policy yet

    policy = f"/api/v1/projects/{project.name}/scan-policy"
    assert project.admin.put(policy, json={"preventSeverity": "HIGH"}).status_code == 200
    scan = f"/api/v1/repositories/{repo}/manifests/{digest}/scan"
    assert project.admin.post(scan).status_code in (200, 202)
    # The scan runs as a job: refused once it is stored (bounded wait).
    deadline = time.monotonic() + 60
    refused = project.hook.admit(review(pod))
    while refused["allowed"] and time.monotonic() < deadline:
        time.sleep(0.2)
        refused = project.hook.admit(review(pod))
    message = refused["status"]["message"]
    assert GLIBC_CVE in message and "at or above HIGH" in message, message
    assert message.startswith(f'container "c0" (containers[0]): image {project.image(repo, "1")}')


def test_only_the_clusters_token_opens_its_webhook(project: Project) -> None:
    hook = project.hook
    pod = review(workload("Pod", "p", "shop", pod_spec("docker.io/library/nginx:1")))
    anonymous = hook.call(pod, token="")
    assert anonymous.status_code == 401 and error_code(anonymous) == "UNAUTHORIZED"
    assert hook.call(pod, token="not-a-token").status_code == 401
    # A cluster's token is for its own URL only.
    for other in ("staging", None):
        wrong = hook.call(pod, cluster=other, token=hook.tokens["prod"])
        assert (wrong.status_code, error_code(wrong)) == (403, "DENIED")
    # Nobody else's credentials open it, a system admin's included: they are not a token.
    basic = httpx.post(
        f"{hook.server.url}/api/v1/admission/clusters/prod",
        json=pod,
        auth=hook.server.admin_auth,
        timeout=30,
    )
    assert (basic.status_code, error_code(basic)) == (401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}, "apiVersion"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "request must be"),
    ],
)
def test_a_tampered_request_is_a_400_not_a_verdict(project: Project, body: Any, words: str) -> None:
    response = project.hook.call(body)
    assert (response.status_code, error_code(response)) == (400, "ADMISSION_REVIEW_INVALID")
    assert words in response.json()["errors"][0]["message"]
    document = review(workload("Pod", "p", "shop", pod_spec("x/y:1")))
    document["request"]["object"]["spec"]["containers"][0]["image"] = {"$ne": ""}
    response = project.hook.call(document)
    assert (response.status_code, error_code(response)) == (400, "ADMISSION_REVIEW_INVALID")


def _gc_untagged(server: CargoholdServer) -> None:
    with server.client(timeout=120) as system_admin:
        response = system_admin.post("/api/v1/gc", params={"untagged": "true"})
    assert response.status_code == 200, response.text
    events = [json.loads(line) for line in response.text.splitlines()]
    assert events[-1]["event"] == "done", events[-1]


def test_lifecycle_and_gc_keep_what_clusters_run(project: Project) -> None:
    repo = project.repo("kept")
    running = project.push(repo, "1", signed_by=project.trusted)
    project.push(repo, "2")
    newest = project.push(repo, "3")
    pod = workload("Pod", "runner", "shop", pod_spec(project.image(repo, "1")))
    assert project.hook.admit(review(pod))["allowed"] is True
    keep_one = {
        "rules": [
            {
                "rulePriority": 1,
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": 1,
                },
                "action": {"type": "expire"},
            }
        ]
    }
    lifecycle = f"/api/v1/repositories/{repo}/lifecycle"
    preview = project.admin.post(f"{lifecycle}/preview", json=keep_one)
    assert preview.status_code == 200, preview.text
    images = {image["imageTags"][0]: image for image in preview.json()["images"]}
    assert images["1"]["action"] == "KEEP" and images["1"]["keptReason"] == "running"
    assert images["1"]["runningIn"].startswith("admitted to cluster prod (shop/Pod runner) at ")
    assert images["2"]["action"] == "EXPIRE" and images["2"]["keptReason"] is None
    assert images["3"]["action"] == "KEEP"
    assert project.admin.put(lifecycle, json=keep_one).status_code == 200
    applied = project.admin.post(f"{lifecycle}/apply")
    assert applied.status_code == 200, applied.text
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    assert project.admin.head(f"/v2/{repo}/manifests/{running}", headers=accept).status_code == 200
    assert project.admin.head(f"/v2/{repo}/manifests/2", headers=accept).status_code == 404
    assert project.admin.head(f"/v2/{repo}/manifests/{newest}", headers=accept).status_code == 200

    # Untagged: GC removes an image no cluster runs, and keeps the one a cluster admitted.
    loose = project.repo("loose")
    body = encode(image_manifest(project.admin, loose, layers=[secrets.token_bytes(8)]))
    admitted_untagged = sha256(body)
    assert put_manifest(project.admin, loose, admitted_untagged, body).status_code == 201
    sign(project.admin, project.hook.host, loose, admitted_untagged, project.trusted)
    other = encode(image_manifest(project.admin, loose, layers=[secrets.token_bytes(8)]))
    assert put_manifest(project.admin, loose, sha256(other), other).status_code == 201
    by_digest = workload("Job", "once", "shop", pod_spec(project.image(loose, admitted_untagged)))
    assert project.hook.admit(review(by_digest))["allowed"] is True
    _gc_untagged(project.hook.server)
    kept = project.admin.head(f"/v2/{loose}/manifests/{admitted_untagged}", headers=accept)
    assert kept.status_code == 200
    gone = project.admin.head(f"/v2/{loose}/manifests/{sha256(other)}", headers=accept)
    assert gone.status_code == 404


def test_gc_deletes_admission_records_past_the_history_window(project: Project) -> None:
    """Records older than admission_history_days (365 by default) are deleted by a garbage
    collection (not by a dry run); recent ones stay."""
    repo = project.repo("history")
    digest = project.push(repo, "v1", signed_by=project.trusted)
    pod = workload("Pod", "recent", "shop", pod_spec(project.image(repo, "v1")))
    assert project.hook.admit(review(pod))["allowed"] is True
    two_years_ago = time.time() - 2 * 365 * 86400
    old = AdmissionRow(
        "prod", "shop", "Pod", "ancient", repo, digest, repo, two_years_ago, two_years_ago
    )
    with project.hook.server.database() as database:
        AdmissionRecords(database).record([old])
    assert {row["name"] for row in project.where(repo, "v1")["admissions"]} == {
        "recent",
        "ancient",
    }
    with project.hook.server.client(timeout=120) as system_admin:
        for dry_run, purged in (("true", 0), ("false", 1)):
            response = system_admin.post("/api/v1/gc", params={"dryRun": dry_run})
            assert response.status_code == 200, response.text
            done = json.loads(response.text.splitlines()[-1])
            assert done["event"] == "done", done
            assert done["report"]["admissionsPurged"] == purged
    assert [row["name"] for row in project.where(repo, "v1")["admissions"]] == ["recent"]


def test_cargohold_where_tells_where_and_when(project: Project) -> None:
    repo = project.repo("where")
    digest = project.push(repo, "v1", signed_by=project.trusted)
    deployment = workload("StatefulSet", "db", "data", pod_spec(project.image(repo, "v1")))
    assert project.hook.admit(review(deployment))["allowed"] is True
    env = {
        **os.environ,
        "CARGOHOLD_USERNAME": project.login.name,
        "CARGOHOLD_PASSWORD": project.login.secret,
        "COLUMNS": "200",
    }
    shown = subprocess.run(
        [CARGOHOLD, "where", project.image(repo, "v1")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"{repo}@{digest}" in shown.stdout
    assert "prod" in shown.stdout and "data" in shown.stdout and "StatefulSet/db" in shown.stdout
    assert "within the last 30 days" in shown.stdout
    listed = subprocess.run(
        [CARGOHOLD, "where", project.image(repo, "v1"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(listed.stdout)["admissions"][0]["name"] == "db"
    missing = subprocess.run(
        [CARGOHOLD, "where", project.image(repo, "nope")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "MANIFEST_UNKNOWN" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module", params=["allow", "warn"])
def foreign_hook(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Webhook]:
    """A server that allows, or warns about, other registries' images; the one that warns
    also requires digest references."""
    tokens = {"prod": secrets.token_urlsafe(32)}
    settings = {"admission_foreign_images": request.param}
    if request.param == "warn":
        settings["admission_require_digest"] = "true"
    server = _server(tmp_path_factory.mktemp(f"foreign-{request.param}"), "", tokens, **settings)
    yield Webhook(server, tokens)
    server.stop()


def test_other_registries_images_are_allowed_or_warned_about(foreign_hook: Webhook) -> None:
    with _project(foreign_hook) as project:
        _foreign_images(foreign_hook, project)


def _foreign_images(foreign_hook: Webhook, project: Project) -> None:
    repo = project.repo("app")
    digest = project.push(repo, "v1", signed_by=project.trusted)
    nginx = "docker.io/library/nginx:1.25"
    spec = pod_spec(project.image(repo, digest), nginx, init=("quay.io/org/tool:2",))
    answered = foreign_hook.admit(review(workload("Pod", "mixed", "shop", spec)))
    assert answered["allowed"] is True
    if foreign_hook.server.settings().admission_foreign_images == "allow":
        assert "warnings" not in answered
        by_tag = workload("Pod", "tagged", "shop", pod_spec(project.image(repo, "v1")))
        assert foreign_hook.admit(review(by_tag))["allowed"] is True
        return
    assert answered["warnings"] == [
        'container "init0" (initContainers[0]): image quay.io/org/tool:2 is from quay.io, not '
        "this registry; it was not checked",
        f'container "c1" (containers[1]): image {nginx} is from docker.io, not this registry; '
        "it was not checked",
    ]
    # Digest references are required here: the same image by its tag is refused.
    by_tag = workload("Pod", "tagged", "shop", pod_spec(project.image(repo, "v1")))
    refused = foreign_hook.admit(review(by_tag))
    assert refused["status"]["message"] == (
        f'container "c0" (containers[0]): image {project.image(repo, "v1")} names a tag, and '
        "this registry requires digest references (IMAGE@sha256:...)"
    )
