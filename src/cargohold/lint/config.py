"""The lint config file: rules ignored everywhere or in some paths, approved base images, and
whether base images must be pinned by digest.

```yaml
ignore: [CH402]
approved_bases: ["python:3.12-slim", "node:20-alpine", "gcr.io/distroless/*"]
require_digest: true
exceptions:
  - rules: [CH102]
    paths: ["tools/*"]
    reason: the tools image needs root to mount filesystems
```
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import msgspec

from cargohold.lint.catalog import BY_ID
from cargohold.lint.model import Finding, LintOptions

DEFAULT_CONFIG = Path(".cargohold-lint.yaml")


class ConfigError(ValueError):
    """The config file is missing, unreadable or wrong; the message says where."""


class RuleException(msgspec.Struct, forbid_unknown_fields=True):
    rules: list[str]
    paths: list[str] = msgspec.field(default_factory=lambda: ["*"])
    reason: str = ""


class LintConfig(msgspec.Struct, forbid_unknown_fields=True):
    ignore: list[str] = msgspec.field(default_factory=list)
    approved_bases: list[str] = msgspec.field(default_factory=list)
    require_digest: bool = False
    exceptions: list[RuleException] = msgspec.field(default_factory=list)

    @property
    def options(self) -> LintOptions:
        return LintOptions(tuple(self.approved_bases), self.require_digest)

    def excuses(self, finding: Finding, path: str) -> bool:
        """Whether the config ignores this finding in the Dockerfile at `path`."""
        rule = finding.rule.id
        if rule in self.ignore:
            return True
        normal = path.replace("\\", "/").removeprefix("./")
        return any(
            rule in exception.rules and any(fnmatch.fnmatch(normal, p) for p in exception.paths)
            for exception in self.exceptions
        )


def load_config(path: Path) -> LintConfig:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"lint config {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read lint config {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"lint config {path} is not YAML: {_one_line(exc)}") from None
    try:
        config = msgspec.convert(data or {}, LintConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"lint config {path}: {exc}") from None
    unknown = [r for r in [*config.ignore, *(r for e in config.exceptions for r in e.rules)]]
    unknown = [r for r in unknown if r.upper() not in BY_ID]
    if unknown:
        raise ConfigError(
            f"lint config {path}: unknown rule {unknown[0]} (see `cargohold lint --list-rules`)"
        )
    config.ignore = [r.upper() for r in config.ignore]
    for exception in config.exceptions:
        exception.rules = [r.upper() for r in exception.rules]
    return config


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())
