"""`cargohold migrate-storage` on a data directory's blobs into SeaweedFS: damaged objects are
named and left out, an interrupted run is continued by the next, a second run copies nothing,
`--verify-existing` replaces a damaged copy, and what cannot be used is one line. The copy
itself is driver-generic: it also runs between two filesystem stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from cargohold.services.blob_migration import WHOLE_OBJECT_MAX, BlobMigration
from cargohold.storage.filesystem import FilesystemBlobStore
from cargohold.storage.s3 import S3BlobStore
from cargohold.storage.s3.keys import KeyLayout
from tests.api.helpers import deterministic_bytes
from tests.support.oci import digest_of
from tests.support.seaweedfs import SeaweedServer, keys_under, read_object
from tests.support.server import CARGOHOLD


def blob_store(data_dir: Path, blobs: list[bytes]) -> list[str]:
    """A data directory whose filesystem store holds these blobs; their digests."""
    store = FilesystemBlobStore(data_dir / "blobs")
    digests = []
    for data in blobs:
        digest = digest_of(data)
        store.put(digest, data)
        digests.append(digest)
    return digests


def migrate(
    data_dir: Path, seaweedfs: SeaweedServer, prefix: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CARGOHOLD, "migrate-storage", "--data-dir", str(data_dir), *args],
        env={**os.environ, **seaweedfs.settings_env(prefix), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stored(seaweedfs: SeaweedServer, prefix: str) -> dict[str, bytes | None]:
    """Every object under the prefix: key -> bytes."""
    bucket = seaweedfs.store(prefix)
    return {key: read_object(bucket, key) for key in keys_under(bucket, f"{prefix}/")}


def object_count(bucket: S3BlobStore) -> int:
    return len(keys_under(bucket, bucket.layout.blobs))


@pytest.fixture
def prefix() -> str:
    return f"migrate-{uuid.uuid4().hex[:10]}"


def test_a_damaged_source_object_is_named_and_not_copied(
    tmp_path: Path, seaweedfs: SeaweedServer, prefix: str
) -> None:
    big = deterministic_bytes(WHOLE_OBJECT_MAX + 3 * 1024 * 1024, b"big")
    good = [b"first blob", b"second blob", deterministic_bytes(200_000, b"mid")]
    digests = blob_store(tmp_path / "data", [*good, b"will be damaged", big])
    store = FilesystemBlobStore(tmp_path / "data" / "blobs")
    # Same sizes, other bytes: only a digest check finds them (one small, one streamed).
    for digest in digests[3:]:
        path = Path(store.path_of(digest))
        damaged = bytearray(path.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        path.write_bytes(damaged)

    done = migrate(tmp_path / "data", seaweedfs, prefix)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    for digest in digests[3:]:
        assert any(line.startswith(f"failed {digest}: the source's ") for line in lines), lines
        assert any(digest in line and "damaged; not copied" in line for line in lines)
    assert lines[-1] == (
        "error: 2 objects could not be copied (named above); the others are in place: fix or "
        "remove what failed, then run again"
    )
    assert "copied 3 objects" in done.stdout and "failed 2" in done.stdout
    layout = KeyLayout(prefix)
    objects = stored(seaweedfs, prefix)
    # The good ones landed whole; the damaged ones are nowhere, not even as staged bytes.
    assert objects == {layout.blob(d): data for d, data in zip(digests, good, strict=False)}


def test_an_interrupted_run_is_continued_by_the_next(
    tmp_path: Path, seaweedfs: SeaweedServer, prefix: str
) -> None:
    blobs = [deterministic_bytes(16 * 1024, b"blob %d" % i) for i in range(300)]
    digests = blob_store(tmp_path / "data", blobs)
    env = {**os.environ, **seaweedfs.settings_env(prefix)}
    process = subprocess.Popen(
        [CARGOHOLD, "migrate-storage", "--data-dir", str(tmp_path / "data"), "--jobs", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bucket = seaweedfs.store(prefix)
    deadline = time.monotonic() + 60
    while object_count(bucket) < 5 and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    landed = object_count(bucket)
    assert 5 <= landed < len(blobs)

    resumed = migrate(tmp_path / "data", seaweedfs, prefix, "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert (report["skipped"], report["copied"], report["failed"]) == (
        landed,
        len(blobs) - landed,
        0,
    )
    layout = KeyLayout(prefix)
    objects = stored(seaweedfs, prefix)
    assert objects == {layout.blob(d): data for d, data in zip(digests, blobs, strict=True)}

    again = migrate(tmp_path / "data", seaweedfs, prefix, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == len(blobs)
    assert json.loads(again.stdout)["copied"] == 0


def test_verify_existing_replaces_a_damaged_copy(
    tmp_path: Path, seaweedfs: SeaweedServer, prefix: str
) -> None:
    blobs = [b"kept as it is", b"damaged at the destination"]
    digests = blob_store(tmp_path / "data", blobs)
    assert migrate(tmp_path / "data", seaweedfs, prefix).returncode == 0
    key = KeyLayout(prefix).blob(digests[1])
    seaweedfs.client().put_object(Bucket=seaweedfs.bucket, Key=key, Body=b"X" * len(blobs[1]))

    # A copy of the right size is taken as done...
    plain = json.loads(migrate(tmp_path / "data", seaweedfs, prefix, "--json").stdout)
    assert (plain["skipped"], plain["copied"]) == (2, 0)
    # ...unless its bytes are read back and checked.
    checked = migrate(tmp_path / "data", seaweedfs, prefix, "--verify-existing", "--json")
    assert checked.returncode == 0, checked.stderr
    assert (json.loads(checked.stdout)["skipped"], json.loads(checked.stdout)["copied"]) == (1, 1)
    assert stored(seaweedfs, prefix)[key] == blobs[1]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CARGOHOLD_S3_SECRET_ACCESS_KEY": "wrong-secret"},
            "error: cannot use the destination: S3 bucket 'cargohold-test' at http://127.0.0.1:",
        ),
        (
            {"CARGOHOLD_S3_BUCKET": ""},
            "error: the destination is the S3 store of the s3_* settings: storage_driver s3 "
            "needs s3_bucket",
        ),
    ],
    ids=["wrong secret", "no bucket"],
)
def test_a_destination_it_cannot_use_is_one_line(
    tmp_path: Path, seaweedfs: SeaweedServer, prefix: str, env: dict[str, str], message: str
) -> None:
    blob_store(tmp_path / "data", [b"one"])
    done = migrate(tmp_path / "data", seaweedfs, prefix, **env)
    assert done.returncode == 1
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1


def test_a_data_directory_without_blobs_is_one_line(
    tmp_path: Path, seaweedfs: SeaweedServer, prefix: str
) -> None:
    done = migrate(tmp_path / "no-such-dir", seaweedfs, prefix)
    assert done.returncode == 1
    assert done.stderr == (
        f"error: no blob store in {tmp_path / 'no-such-dir' / 'blobs'}: is --data-dir (or "
        "data_dir) the registry's data directory?\n"
    )
    assert not (tmp_path / "no-such-dir").exists()


def test_the_copy_is_driver_generic(tmp_path: Path) -> None:
    """Two filesystem stores: the same copy, the same checks, no S3 in sight."""
    big = deterministic_bytes(WHOLE_OBJECT_MAX + 1, b"streamed")
    digests = blob_store(tmp_path / "one", [b"small", big])
    source = FilesystemBlobStore(tmp_path / "one" / "blobs")
    destination = FilesystemBlobStore(tmp_path / "two")
    seen: list[tuple[str, str]] = []
    report = BlobMigration(source, destination).run(
        jobs=2, progress=lambda digest, outcome, size, reason: seen.append((digest, outcome))
    )
    assert (report.copied, report.copied_bytes, report.failed) == (2, 5 + len(big), 0)
    assert sorted(seen) == sorted((d, "copied") for d in digests)
    assert b"".join(destination.get(digests[1])) == big
    assert list(destination.staged()) == []
    again = BlobMigration(source, destination).run()
    assert (again.skipped, again.copied) == (2, 0)
