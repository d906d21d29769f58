"""What a runtime image usually need not carry, told by path alone (docs/analyze.md lists it):

- build-tools: compilers, linkers, build systems and their support trees (gcc's cc1 lives in
  /usr/lib/gcc and /usr/libexec/gcc);
- package-caches: what package managers download and keep (apt, apk, dnf/yum, pip, npm,
  yarn, Go, Cargo, Maven, Gradle, Composer);
- headers: C and C++ headers (/usr/include, and *.h wherever they are);
- docs: manual pages, info pages and /usr/share/doc.
"""

from __future__ import annotations

import re

BUILD_TOOLS = "build-tools"
PACKAGE_CACHES = "package-caches"
HEADERS = "headers"
DOCS = "docs"
CATEGORIES = (BUILD_TOOLS, PACKAGE_CACHES, HEADERS, DOCS)

_BIN_DIRS = ("bin/", "usr/bin/", "usr/local/bin/", "usr/local/go/bin/")
_TOOL = re.compile(
    r"^(?:[a-z0-9_]+-(?:[a-z0-9_]+-)?linux-gnu[a-z0-9_]*-)?"
    r"(?:gcc|g\+\+|c\+\+|cc|cpp|clang|clang\+\+|gfortran|ld|ld\.bfd|ld\.gold|as|make|gmake|"
    r"cmake|ninja|autoconf|automake|libtool|pkg-config|pkgconf|bison|flex|m4|nasm|yasm|"
    r"rustc|cargo|go|javac|mvn|gradle)(?:-[0-9][0-9.]*)?$"
)
_TOOL_TREES = re.compile(
    r"^(?:usr/lib/gcc/|usr/libexec/gcc/|usr/lib/gcc-cross/|usr/lib/llvm-[^/]+/|"
    r"usr/local/go/pkg/tool/|usr/lib/jvm/[^/]+/bin/javac$)"
)
_CACHES = re.compile(
    r"(?:^var/cache/(?:apt|apk|yum|dnf|zypp|pacman)/|^var/lib/apt/lists/[^/]+$|"
    r"(?:^|/)\.cache/(?:pip|yarn|go-build|composer|pypoetry|uv)/|(?:^|/)\.npm/_cacache/|"
    r"^usr/local/share/\.cache/yarn/|(?:^|/)go/pkg/mod/cache/|(?:^|/)\.cargo/registry/cache/|"
    r"(?:^|/)\.m2/repository/|(?:^|/)\.gradle/caches/|(?:^|/)\.composer/cache/)"
)
_APT_KEEP = frozenset({"var/lib/apt/lists/lock"})
_HEADER = re.compile(r"(?:^usr/(?:local/)?include/|\.(?:h|hh|hpp|hxx)$)")
_DOCS = re.compile(r"^usr/(?:local/)?share/(?:doc|man|info|gtk-doc)/")


def category_of(path: str) -> str | None:
    """The category of the file at `path` (relative, no leading `/`), or None."""
    if _TOOL_TREES.match(path):
        return BUILD_TOOLS
    if path.startswith(_BIN_DIRS) and _TOOL.match(path.rsplit("/", 1)[-1]):
        return BUILD_TOOLS
    if _CACHES.search(path) and path not in _APT_KEEP:
        return PACKAGE_CACHES
    if _HEADER.search(path):
        return HEADERS
    if _DOCS.match(path):
        return DOCS
    return None
