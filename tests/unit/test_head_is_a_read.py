"""HEAD runs the GET handler with the GET's permission (Starlette adds it to every GET route;
the access check asks for what GET needs), so no handler may tell reads from writes by
comparing the method with "GET": a HEAD with a body would run the write with a reader's rights.
Checked on the source of api/, for every handler to come."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "src" / "cargohold" / "api"


def _compares_method_with_get(node: ast.Compare) -> bool:
    operands = [node.left, *node.comparators]
    names_method = any(
        (isinstance(o, ast.Attribute) and o.attr == "method")
        or (isinstance(o, ast.Name) and o.id == "method")
        for o in operands
    )
    equality = all(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
    says_get = any(isinstance(o, ast.Constant) and o.value == "GET" for o in operands)
    return names_method and equality and says_get


def test_no_handler_compares_the_method_with_get() -> None:
    found = []
    for path in sorted(API.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Compare) and _compares_method_with_get(node):
                found.append(f"{path.relative_to(API)}:{node.lineno}")
    assert found == [], f"use api.params.is_read(request) instead: {found}"


def test_the_check_finds_what_it_looks_for() -> None:
    tree = ast.parse('if request.method == "GET": pass\nif method != "GET": pass')
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert [_compares_method_with_get(c) for c in compares] == [True, True]
