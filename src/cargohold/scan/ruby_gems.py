"""Ruby gems: the `specifications/*.gemspec` files RubyGems writes for each installed gem.

`gem install` (and Bundler, and Debian's ruby-* packages) leave one Ruby file per gem
under `<GEM_HOME>/specifications/` (default gems under `specifications/default/`):

    Gem::Specification.new do |s|
      s.name = "rake".freeze
      s.version = "13.0.6"

The file is Ruby code and is never run: the name and version are read from those two
assignments, as Trivy does (RubyGems writes them as plain string literals; older
versions without `.freeze`, some with `Gem::Version.new("...")`).
"""

from __future__ import annotations

import re

from cargohold.scan.catalog import Cataloger, PackageRecord, UnreadableFile
from cargohold.scan.model import OSInfo
from cargohold.scan.purl import gem_purl

_NAME = re.compile(rb"""^\s*s\.name\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_VERSION = re.compile(
    rb"""^\s*s\.version\s*=\s*(?:Gem::Version\.new\(\s*)?["']([^"']+)["']""", re.MULTILINE
)


def wants(path: str) -> bool:
    parts = path.split("/")
    if not parts[-1].endswith(".gemspec"):
        return False
    # .../specifications/NAME.gemspec or .../specifications/default/NAME.gemspec
    return "specifications" in parts[-3:-1]


def parse(path: str, data: bytes, os: OSInfo | None) -> list[PackageRecord]:
    name, version = _NAME.search(data), _VERSION.search(data)
    if name is None or version is None:
        raise UnreadableFile(f"{path} is not a gem specification (no s.name and s.version)")
    gem, number = name.group(1).decode("utf-8", "replace"), version.group(1).decode()
    return [PackageRecord(type="gem", name=gem, version=number, purl=gem_purl(gem, number))]


CATALOGER = Cataloger("ruby-gem", wants, parse)
