"""Settings precedence: defaults < TOML file < CARGOHOLD_* environment < flags."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cargohold.config import ConfigError, Settings, load_settings
from cargohold.wiring import blob_store_from_settings
from tests.support.server import CARGOHOLD


def test_defaults() -> None:
    settings = load_settings(env={})
    assert settings.addr == "127.0.0.1:5000"
    assert settings.data_dir == "./data"
    assert settings.metadata_url.startswith("sqlite:///") and settings.metadata_url.endswith(
        "data/cargohold.db"
    )


def test_flags_win_over_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "cargohold.toml"
    config.write_text(
        'addr = "127.0.0.1:6000"\ndata_dir = "/srv/file"\nlog_level = "debug"\nworkers = 3\n'
    )
    env = {"CARGOHOLD_DATA_DIR": "/srv/env", "CARGOHOLD_WORKERS": "4"}
    settings = load_settings(str(config), env=env, overrides={"workers": 1, "addr": None})
    assert settings.addr == "127.0.0.1:6000"  # file only
    assert settings.log_level == "debug"  # file only
    assert settings.data_dir == "/srv/env"  # env beats file
    assert settings.workers == 1  # flag beats env
    assert load_settings(env={"CARGOHOLD_CONFIG": str(config)}).data_dir == "/srv/file"


def test_database_url_and_tls_settings(tmp_path: Path) -> None:
    env = {
        "CARGOHOLD_DATABASE_URL": "postgresql://u@127.0.0.1/db",
        "CARGOHOLD_TLS_CERT": "/c.pem",
        "CARGOHOLD_TLS_KEY": "/k.pem",
        "CARGOHOLD_ACCESS_LOG": "false",
    }
    settings = load_settings(env=env)
    assert settings.metadata_url == "postgresql://u@127.0.0.1/db"
    assert (settings.tls_cert, settings.tls_key, settings.access_log) == ("/c.pem", "/k.pem", False)
    assert Settings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('addr = "nowhere"', {}, "addr must be HOST:PORT"),
        ("bogus = 1", {}, "unknown setting 'bogus'"),
        ("workers = 'many'", {}, "expects int"),
        ("", {"CARGOHOLD_LOG_FORMAT": "xml"}, "log_format"),
        ("", {"CARGOHOLD_TLS_CERT": "/c.pem"}, "tls_cert and tls_key"),
        ("not toml = = =", {}, "invalid TOML"),
        ("", {"CARGOHOLD_VULNDB_ZIP_MAX_RATIO": "0"}, "vulndb_zip_max_ratio must be 1 or more"),
        ("vulndb_zip_member_max_bytes = -1", {}, "vulndb_zip_member_max_bytes and"),
        ("", {"CARGOHOLD_BODY_READ_TIMEOUT_SECONDS": "0"}, "body_read_timeout_seconds"),
        ("", {"CARGOHOLD_BODY_READ_TIMEOUT_SECONDS": "inf"}, "body_read_timeout_seconds"),
        ("header_read_timeout_seconds = 61", {}, "header_read_timeout_seconds must be from"),
        ("", {"CARGOHOLD_HEADER_READ_TIMEOUT_SECONDS": "0"}, "header_read_timeout_seconds"),
        ("", {"CARGOHOLD_HEADER_READ_TIMEOUT_SECONDS": "nan"}, "header_read_timeout_seconds"),
        ("max_json_body_bytes = 10", {}, "max_json_body_bytes must be at least 1024"),
        ("max_vulndb_import_bytes = -1", {}, "max_vulndb_import_bytes"),
        ("max_uploads_per_client = -1", {}, "max_uploads_per_client"),
        ("workers = 4\nmax_client_connections = 2", {}, "max_client_connections"),
        ('storage_driver = "s4"', {}, "storage_driver must be one of filesystem, s3, got 's4'"),
        ('storage_driver = "s3"', {}, "storage_driver s3 needs s3_bucket"),
        (
            'storage_driver = "s3"\ns3_bucket = "b"\ns3_access_key_id = "k"',
            {},
            "s3_access_key_id and s3_secret_access_key must be given together",
        ),
        (
            'storage_driver = "s3"\ns3_bucket = "b"\ns3_endpoint_url = "127.0.0.1:9000"',
            {},
            "s3_endpoint_url must be an http",
        ),
        (
            'storage_driver = "s3"\ns3_bucket = "b"',
            {"CARGOHOLD_S3_REDIRECT_EXPIRY_SECONDS": "0"},
            "s3_redirect_expiry_seconds must be from 1 to 604800",
        ),
        (
            'storage_driver = "s3"\ns3_bucket = "b"',
            {"CARGOHOLD_S3_INLINE_UPLOAD_BYTES": str(5 * 1024 * 1024 + 1)},
            "s3_inline_upload_bytes must be from 0 to 5242880, got 5242881",
        ),
        (
            'storage_driver = "s3"\ns3_bucket = "b"\ns3_inline_upload_bytes = -1',
            {},
            "s3_inline_upload_bytes must be from 0 to 5242880",
        ),
        ("", {"CARGOHOLD_SCANNING": "maybe"}, "setting 'scanning' expects bool"),
        ("audit_retention_days = -1", {}, "audit_retention_days must be 0"),
        (
            "admission_history_days = 10",
            {},
            "admission_history_days must be 0 \\(keep every record\\) or at least "
            "admission_keep_days \\(30\\), got 10",
        ),
        ("admission_history_days = -1", {}, "admission_history_days must be 0"),
        ('audit_purge_schedule = "daily"', {}, "audit_purge_schedule: 'daily' is not a cron"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(str(config), env=env)


def test_extension_and_driver_settings() -> None:
    defaults = load_settings(env={})
    assert (defaults.scanning, defaults.storage_driver) == (True, "filesystem")
    assert load_settings(env={"CARGOHOLD_SCANNING": "false"}).scanning is False


def test_the_s3_secret_is_not_in_the_settings_repr() -> None:
    settings = load_settings(
        env={
            "CARGOHOLD_STORAGE_DRIVER": "s3",
            "CARGOHOLD_S3_BUCKET": "registry",
            "CARGOHOLD_S3_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "CARGOHOLD_S3_SECRET_ACCESS_KEY": "very-secret-value",
        }
    )
    assert settings.s3_secret_access_key == "very-secret-value"
    assert "very-secret-value" not in repr(settings)


def test_an_unknown_blob_driver_is_a_config_error_in_the_factory_too(tmp_path: Path) -> None:
    """Settings read back from a server's environment skip validation; the factory checks."""
    assert blob_store_from_settings(Settings(data_dir=str(tmp_path))).name == "filesystem"
    with pytest.raises(ConfigError, match="storage_driver must be one of filesystem, s3"):
        blob_store_from_settings(Settings(data_dir=str(tmp_path), storage_driver="s4"))


def test_request_body_settings() -> None:
    defaults = load_settings(env={})
    assert defaults.max_json_body_bytes == 1024 * 1024
    assert defaults.body_read_timeout_seconds == 60
    env = {
        "CARGOHOLD_BODY_READ_TIMEOUT_SECONDS": "2.5",
        "CARGOHOLD_MAX_UPLOADS_PER_CLIENT": "0",
        "CARGOHOLD_MAX_VULNDB_IMPORT_BYTES": "8388608",
    }
    settings = load_settings(env=env)
    assert settings.body_read_timeout_seconds == 2.5
    assert settings.max_uploads_per_client == 0  # no cap
    assert settings.max_vulndb_import_bytes == 8 * 1024 * 1024


def test_serve_reports_bad_config_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [CARGOHOLD, "serve", "--addr", "bad", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: addr must be HOST:PORT, got 'bad'"
    result = subprocess.run(
        [CARGOHOLD, "serve", "--config", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "config file not found" in result.stderr


def test_version_and_help_list_every_command() -> None:
    version = subprocess.run([CARGOHOLD, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("cargohold ")
    helptext = subprocess.run([CARGOHOLD, "--help"], capture_output=True, text=True, check=True)
    for command in ("serve", "info", "repos", "tags"):
        assert command in helptext.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AUTH_TOKEN_EXPIRY_SECONDS", "59", "at least 60"),
        ("AUTH_LOCKOUT_THRESHOLD", "0", "1 or more"),
        ("AUTH_PASSWORD_CHECKS_AT_ONCE", "0", "auth_password_checks_at_once must be 1 or more"),
        ("AUTH_PASSWORD_CHECKS_WAITING", "-1", "auth_password_checks_waiting 0 or more"),
        ("AUTH_PASSWORD_CHECKS_WAITING", "11", "must be at most 12"),
        ("AUTH_PASSWORD_CHECKS_AT_ONCE", "x", "auth_password_checks_at_once"),
        ("AUTH_LOCKOUT_SECONDS", "-1", "0 or more"),
        ("AUTH_TOKEN_REUSE_SECONDS", "-1", "auth_token_reuse_seconds must be a number of seconds"),
        ("AUTH_TOKEN_REUSE_SECONDS", "nan", "auth_token_reuse_seconds must be a number of seconds"),
        ("AUTH_ROBOT_PREFIX", "robot:", "auth_robot_prefix"),
        ("AUTH_ROBOT_EXPIRY_DAYS", "0", "1 or more"),
        ("AUTH_TOKEN_ISSUER", "", "must not be empty"),
        ("AUTH", "false", "auth must be on or off"),
        ("AUTH_TOKEN_REALM", "registry.example/auth/token", "http"),
        ("AUTH_TOKEN_REALM", 'https://x/"a', "http"),
        ("AUTH_REFRESH_TOKEN_EXPIRY_DAYS", "0", "from 1 to 3650"),
        ("AUTH_REFRESH_TOKEN_EXPIRY_DAYS", "3651", "from 1 to 3650"),
        ("AUTH_REFRESH_TOKEN_EXPIRY_DAYS", "soon", "expects int"),
    ],
)
def test_auth_settings_are_checked(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env={f"CARGOHOLD_{name}": value})


def test_refresh_tokens_last_30_days_unless_configured() -> None:
    assert load_settings(env={}).auth_refresh_token_expiry_days == 30
    configured = load_settings(env={"CARGOHOLD_AUTH_REFRESH_TOKEN_EXPIRY_DAYS": "7"})
    assert configured.auth_refresh_token_expiry_days == 7


def test_token_keys_default_to_the_data_directory() -> None:
    assert load_settings(env={"CARGOHOLD_DATA_DIR": "/srv/d"}).token_key_dir == Path(
        "/srv/d/token-keys"
    )
    configured = load_settings(env={"CARGOHOLD_AUTH_TOKEN_KEY_DIR": "/etc/cargohold/keys"})
    assert configured.token_key_dir == Path("/etc/cargohold/keys")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PULL_LIMIT_ANONYMOUS", "-1", "pull_limit_anonymous must be 0 \\(no limit\\)"),
        ("PULL_LIMIT_USER", "many", "setting 'pull_limit_user' expects int"),
        ("PULL_LIMIT_ROBOT_WINDOW_SECONDS", "0", "pull_limit_robot_window_seconds must be 1"),
        ("PULL_LIMIT_USER_WINDOW_SECONDS", "6h", "expects int"),
        ("PULL_LIMIT_STORE", "memcached://x", "pull_limit_store must be empty or a redis://"),
    ],
)
def test_pull_limit_settings_are_checked(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env={f"CARGOHOLD_{name}": value})


def test_pull_limits_are_off_by_default_with_docker_hubs_window() -> None:
    defaults = load_settings(env={})
    assert (defaults.pull_limit_anonymous, defaults.pull_limit_user) == (0, 0)
    assert defaults.pull_limit_robot == 0
    assert defaults.pull_limit_anonymous_window_seconds == 21600
    assert defaults.pull_limit_store == ""


def test_audit_retention_defaults_to_a_year_and_0_keeps_everything() -> None:
    assert load_settings(env={}).audit_retention_days == 365
    assert load_settings(env={"CARGOHOLD_AUDIT_RETENTION_DAYS": "0"}).audit_retention_days == 0
    assert load_settings(env={}).audit_purge_schedule == "15 4 * * *"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("METRICS_ACCESS", "everyone", "metrics_access must be admin or anonymous"),
        ("READINESS_TIMEOUT_SECONDS", "0", "readiness_timeout_seconds must be"),
        ("READINESS_TIMEOUT_SECONDS", "nan", "readiness_timeout_seconds must be"),
        ("METRICS", "maybe", "setting 'metrics' expects bool"),
    ],
)
def test_monitoring_settings_are_checked(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env={f"CARGOHOLD_{name}": value})


def test_metrics_are_on_and_for_admins_by_default() -> None:
    settings = load_settings(env={})
    assert settings.metrics and settings.metrics_access == "admin"
    assert settings.readiness_timeout_seconds == 1.0


def test_unknown_cargohold_variables_are_named_with_the_closest_setting() -> None:
    from cargohold.config import unknown_environment

    env = {
        "CARGOHOLD_SCANING": "false",  # a typo of CARGOHOLD_SCANNING
        "CARGOHOLD_DATA_DIR": "/srv",  # a setting
        "CARGOHOLD_REGISTRY": "localhost:5000",  # read by client commands
        "CARGOHOLD_ADMIN_PASSWORD": "x",  # read by the first start
        "CARGOHOLD_NOTHING_LIKE_IT": "1",
        "OTHER_SCANING": "1",  # not ours
    }
    assert unknown_environment(env) == [
        "ignoring CARGOHOLD_NOTHING_LIKE_IT: not a setting",
        "ignoring CARGOHOLD_SCANING: not a setting (did you mean CARGOHOLD_SCANNING?)",
    ]
    assert load_settings(env=env).scanning is True  # the typo changed nothing
