"""A job submitted while its queue (Redis) is down: 503 UNAVAILABLE naming the job, and the job
recorded as failed with the reason, never left `queued` for a consumer that will not see it."""

from __future__ import annotations

from pathlib import Path

from tests.support.oci import error_code
from tests.support.redis import RedisServer
from tests.support.server import CargoholdServer


def test_a_job_submitted_while_redis_is_down_is_refused_and_recorded_failed(
    tmp_path: Path,
) -> None:
    redis = RedisServer().start()
    server = CargoholdServer(
        tmp_path / "data", workers=1, extra_env={"CARGOHOLD_JOB_STORE": redis.url}
    ).start()
    try:
        with server.client() as client:
            redis.stop()
            refused = client.post("/api/v1/jobs", json={"kind": "gc", "args": {}})
            assert refused.status_code == 503, refused.text
            assert error_code(refused) == "UNAVAILABLE"
            assert refused.headers["retry-after"] == "5"
            job_id = refused.json()["errors"][0]["detail"]["id"]
            job = client.get(f"/api/v1/jobs/{job_id}").json()
            assert job["state"] == "failed"
            assert job["error"].startswith("could not be queued: ")
            queued = client.get("/api/v1/jobs", params={"state": "queued"}).json()["jobs"]
            assert job_id not in [j["id"] for j in queued]
    finally:
        server.stop()
        redis.stop()
