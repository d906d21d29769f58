"""A second server refuses a busy address or a data directory in use; the first keeps serving."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cargohold.meta.db import make_engine, migrate
from tests.support.oci import push_blob
from tests.support.ports import free_port
from tests.support.processes import spawn, stop_group
from tests.support.server import CARGOHOLD, CargoholdServer


def _serve(addr: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `cargohold serve` to its end; (exit status, stderr). Killed if it is still up at 60 s."""
    process = subprocess.Popen(
        [CARGOHOLD, "serve", "--addr", addr, "--data-dir", str(data_dir)],
        env={**os.environ, **(extra_env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"a second server on {addr} / {data_dir} started instead of refusing")
    return process.returncode, stderr.decode()


def _still_serves(server: CargoholdServer, repo: str) -> None:
    """Fresh connections all reach the first server's data (none land on another process)."""
    with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as client:
        digest = push_blob(client, repo, b"only the first server has this " + repo.encode())
    for _ in range(10):
        with httpx.Client(base_url=server.url, auth=server.admin_auth, timeout=30) as fresh:
            assert fresh.head(f"/v2/{repo}/blobs/{digest}").status_code == 200


def test_of_two_servers_started_at_once_on_one_port_one_serves_and_one_refuses(
    tmp_path: Path,
) -> None:
    """Both start in the same instant, each with its own data directory: both would find the
    port free while they prepare their stores, and the kernel would split connections
    between them. One serves; the other says in one line that the address is taken."""
    addr = f"127.0.0.1:{free_port()}"
    processes = [
        subprocess.Popen(
            [CARGOHOLD, "serve", "--addr", addr, "--data-dir", str(tmp_path / name)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for name in ("one", "two")
    ]
    try:
        deadline = time.monotonic() + 60
        while all(p.poll() is None for p in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        refused = [p for p in processes if p.poll() is not None]
        assert len(refused) == 1, "neither server refused to share the port"
        (serving,) = [p for p in processes if p not in refused]
        stderr = refused[0].communicate(timeout=10)[1].decode()
        assert refused[0].returncode != 0
        assert stderr.count("\n") == 1, stderr
        assert addr in stderr and "already in use by another cargohold server" in stderr
        time.sleep(1)
        assert serving.poll() is None
    finally:
        for process in processes:
            if process.poll() is None:
                stop_group(process)


def test_a_second_server_on_a_busy_port_refuses_with_one_line(tmp_path: Path) -> None:
    first = CargoholdServer(tmp_path / "first").start()
    try:
        status, stderr = _serve(first.host, tmp_path / "second")
        assert status != 0
        assert stderr.count("\n") == 1, stderr
        assert first.host in stderr and "already in use" in stderr
        assert "Traceback" not in stderr
        _still_serves(first, "refuse/port")
    finally:
        first.stop()


def test_a_port_held_by_another_program_is_refused_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        addr = f"127.0.0.1:{holder.getsockname()[1]}"
        status, stderr = _serve(addr, tmp_path / "data")
    assert status != 0
    assert stderr.count("\n") == 1, stderr
    assert addr in stderr and "already in use" in stderr


def test_a_second_server_on_the_same_data_dir_refuses_and_a_worker_still_runs(
    tmp_path: Path,
) -> None:
    first = CargoholdServer(tmp_path / "data").start()
    try:
        other = CargoholdServer(tmp_path / "unused")  # only for a free port
        status, stderr = _serve(other.host, first.data_dir)
        assert status != 0
        assert stderr.count("\n") == 1, stderr
        assert str(first.data_dir.resolve()) in stderr
        assert "in use by another cargohold server" in stderr
        assert "--workers" in stderr and "cargohold worker" in stderr
        _still_serves(first, "refuse/datadir")

        # The documented way to run jobs apart still opens the same data directory.
        worker_log = tmp_path / "worker.log"
        worker = spawn(
            [CARGOHOLD, "worker", "--data-dir", str(first.data_dir)], dict(os.environ), worker_log
        )
        try:
            deadline = time.monotonic() + 30
            while "cargohold worker:" not in worker_log.read_text():
                assert worker.poll() is None, worker_log.read_text()
                assert time.monotonic() < deadline, worker_log.read_text()
                time.sleep(0.1)
        finally:
            stop_group(worker)
        _still_serves(first, "refuse/worker")
    finally:
        first.stop()


def test_port_sharing_is_an_explicit_choice(tmp_path: Path) -> None:
    first = CargoholdServer(tmp_path / "first").start()
    second = CargoholdServer(tmp_path / "second", extra_env={"CARGOHOLD_REUSE_PORT": "true"})
    second.port = first.port
    try:
        second.start()
        deadline = time.monotonic() + 30
        while "Started worker" not in second.log_path.read_text():
            assert second.process is not None and second.process.poll() is None
            assert time.monotonic() < deadline, second.log_path.read_text()
            time.sleep(0.1)
    finally:
        second.stop()
        first.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "registry.example"])
def test_auth_off_is_refused_on_an_address_others_can_reach(tmp_path: Path, host: str) -> None:
    addr = f"[{host}]:5000" if ":" in host else f"{host}:5000"
    status, stderr = _serve(addr, tmp_path / "data", {"CARGOHOLD_AUTH": "off"})
    assert status != 0
    assert stderr.count("\n") == 1, stderr
    assert "auth = off is for local experiments only" in stderr and "loopback" in stderr
    assert not (tmp_path / "data").exists()  # refused before anything was touched


def test_auth_off_serves_everyone_on_loopback(tmp_path: Path) -> None:
    server = CargoholdServer(tmp_path / "data", extra_env={"CARGOHOLD_AUTH": "off"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as anonymous:
            assert anonymous.get("/v2/").status_code == 200
            push_blob(anonymous, "local/try", b"an experiment")
            assert anonymous.get("/v2/_catalog").json()["repositories"] == ["local/try"]
    finally:
        server.stop()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_unreachable_postgresql_stops_the_start_with_one_line(
    tmp_path: Path, command: str
) -> None:
    """A node started while its database is down (a container restarted before PostgreSQL
    came up) says so in one line and exits non-zero, for its supervisor to start it again."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket is closed
    env = {**os.environ, "CARGOHOLD_DATABASE_URL": f"postgresql://cargohold@127.0.0.1:{port}/x"}
    argv = [CARGOHOLD, command, "--data-dir", str(tmp_path / "data")]
    if command == "serve":
        argv += ["--addr", f"127.0.0.1:{free_port()}"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot start: the metadata database cannot be used: ")
    assert f"port {port} failed: Connection refused" in done.stderr


def test_a_schema_migrated_by_a_newer_release_stops_an_older_one_with_one_line(
    tmp_path: Path,
) -> None:
    """Going back a release after its migrations ran: the old release cannot know the newer
    schema; it says so and what to do, and changes nothing."""
    data = tmp_path / "data"
    engine = make_engine(f"sqlite:///{data.resolve() / 'cargohold.db'}")
    data.mkdir()
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()
    status, stderr = _serve(f"127.0.0.1:{free_port()}", data)
    assert status == 1
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot start: the metadata schema is not one this cargohold")
    assert "'9999_from_the_future'" in last and "restore the backup" in last


def test_serve_warns_about_a_cargohold_variable_that_is_not_a_setting(tmp_path: Path) -> None:
    first = CargoholdServer(tmp_path / "first").start()
    try:
        # Refused (the port is busy) after reading its settings: the warning comes first.
        status, stderr = _serve(first.host, tmp_path / "second", {"CARGOHOLD_READ_ONLEY": "true"})
        assert status != 0
        lines = stderr.splitlines()
        assert lines[0] == (
            "warning: ignoring CARGOHOLD_READ_ONLEY: not a setting "
            "(did you mean CARGOHOLD_READ_ONLY?)"
        ), stderr
        assert "already in use" in lines[-1]
    finally:
        first.stop()
