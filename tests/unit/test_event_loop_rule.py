"""The event-loop rule (docs/decisions/017-one-event-loop-rule.md), checked on the source.

Services are synchronous; api/ leaves the loop only through api/boundary.py's two helpers, and
runs only the reads the decision names inline.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

from cargohold.services.extension_points import PullGate

SRC = Path(__file__).resolve().parents[2] / "src" / "cargohold"
BOUNDARY = "api/boundary.py"
# Executors a module may build for itself: the boundary's pool, and the copy workers of
# `cargohold migrate-storage` (a CLI batch job: it runs in no server, on no event loop).
OWN_EXECUTORS = {BOUNDARY, "services/blob_migration.py"}
LEAVING_THE_LOOP = {"run_in_executor", "to_thread", "set_default_executor"}
EXECUTORS = {"ThreadPoolExecutor", "ProcessPoolExecutor", "Executor"}
# (module, function) -> the service reads it may run inline with fast_read.
FAST_READS = {
    ("api/v2/manifests.py", "manifest"): {"get_manifest"},
    ("api/v2/blobs.py", "blob"): {"blob_size"},
    ("api/v2/tags.py", "tags_list"): {"tags"},
    ("api/diskguard.py", "__call__"): {"held"},
    # Not a query: a registry token's verdict from the verifier's cache (decision 023).
    ("api/access_check.py", "_bearer"): {"verify"},
    # An anonymous pull's one question: is the project public (one row by its key).
    ("api/access_check.py", "permits"): {"is_public"},
    # A robot's token: its failed-login counters and its row, a digest and a signature.
    ("api/auth/token.py", "get_token"): {"for_robot_by_reads"},
}

# The service methods those reads run, where a pull gate is asked only whether it applies
# (from memory); its check and refresh query, and run on the pool (RegistryService.pass_gates,
# refresh_pull_gates), never inside a fast read nor called directly from api/.
FAST_READ_METHODS = {("services/registry.py", "RegistryService", "get_manifest")}
GATE_QUERIES = {f.name for f in dataclasses.fields(PullGate)} - {"applies"}
POOL_ONLY = GATE_QUERIES | {
    "pass_gates",
    "check_gates",
    "refresh_pull_gates",
    "check_pull",
    "reload",
}


def _modules(*layers: str) -> Iterator[tuple[str, ast.Module]]:
    for layer in layers:
        for path in sorted((SRC / layer).rglob("*.py")):
            yield str(path.relative_to(SRC)), ast.parse(path.read_text(), str(path))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def test_only_the_boundary_leaves_the_event_loop() -> None:
    found = [
        f"{module}:{call.lineno} {_name(call.func)}"
        for module, tree in _modules("api", "services")
        for call in _calls(tree)
        if (_name(call.func) in LEAVING_THE_LOOP and module != BOUNDARY)
        or (_name(call.func) in EXECUTORS and module not in OWN_EXECUTORS)
    ]
    assert found == [], "use api/boundary.py's in_pool instead"


def test_services_are_synchronous() -> None:
    found = []
    for module, tree in _modules("services"):
        for node in ast.walk(tree):
            if isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith):
                found.append(f"{module}:{node.lineno} {type(node).__name__}")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                if "asyncio" in names or getattr(node, "module", None) == "asyncio":
                    found.append(f"{module}:{node.lineno} imports asyncio")
    assert found == []


def test_fast_reads_are_only_the_named_ones() -> None:
    """fast_read runs on the loop: only the reads decision 017 names, where it names them."""
    found = []
    for module, tree in _modules("api"):
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            allowed = FAST_READS.get((module, function.name), set())
            for call in _calls(function):
                if _name(call.func) != "fast_read" or module == BOUNDARY:
                    continue
                read = _name(call.args[0]) if call.args else ""
                if read not in allowed:
                    found.append(f"{module}:{call.lineno} {function.name} reads {read} inline")
    assert found == []


def test_fast_reads_never_run_a_pull_gates_queries() -> None:
    """The manifest GET's fast read only asks the gates `applies`; a gated pull leaves it
    (GatedPull) and its checks run on the pool."""
    seen, found = set(), []
    for module, tree in _modules("services"):
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for function in cls.body:
                key = (module, cls.name, getattr(function, "name", ""))
                if key not in FAST_READ_METHODS:
                    continue
                seen.add(key)
                for call in _calls(function):
                    # gate(...) was the gate's whole check; gate.check / .refresh query.
                    if _name(call.func) in POOL_ONLY or _name(call.func) == "gate":
                        found.append(f"{module}:{call.lineno} {_name(call.func)}")
    assert seen == FAST_READ_METHODS  # a renamed method would make this test pass vacuously
    assert found == []
    direct = [
        f"{module}:{call.lineno} {_name(call.func)}"
        for module, tree in _modules("api")
        for call in _calls(tree)
        if _name(call.func) in POOL_ONLY
    ]
    assert direct == [], "a pull gate's check and refresh query: run them with in_pool"
