"""cargohold.errors is the one catalogue of errors, and docs/api.md lists every code in it.

The catalogue is a package with a module per family of errors; every class is importable from
`cargohold.errors` itself, which is what the rest of the code and these tests use."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import cargohold
from cargohold import errors
from cargohold.errors import RegistryError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"

# A row of an error-code table: | `CODE` | 400 / 408 / 413 | when |
_ROW = re.compile(r"^\|\s*`([A-Z_]+)`\s*\|\s*([0-9 /]+?)\s*\|", re.M)


def _catalogue() -> list[type[RegistryError]]:
    return [
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, RegistryError)
        and value is not RegistryError
    ]


def _in_the_catalogue(module: str) -> bool:
    return module == "cargohold.errors" or module.startswith("cargohold.errors.")


def _documented() -> dict[str, set[int]]:
    """Each code in docs/api.md's tables -> the statuses its row gives."""
    documented: dict[str, set[int]] = {}
    for code, statuses in _ROW.findall(DOCS.read_text(encoding="utf-8")):
        documented.setdefault(code, set()).update(int(s) for s in statuses.split("/"))
    return documented


CATALOGUE = _catalogue()


def test_the_catalogue_is_not_empty() -> None:
    assert len(CATALOGUE) > 30


@pytest.mark.parametrize("error", CATALOGUE, ids=lambda error: error.__name__)
def test_each_error_is_complete_and_documented(error: type[RegistryError]) -> None:
    assert _in_the_catalogue(error.__module__), error.__module__
    assert error.__name__ in errors.__all__
    assert re.fullmatch(r"[A-Z_]+", error.code), error.code
    assert 400 <= error.status <= 599
    assert error.default_message.strip()
    assert error.__doc__ and error.__doc__.strip()
    documented = _documented()
    assert error.code in documented, f"{error.code} is missing from docs/api.md's tables"
    assert error.status in documented[error.code], (
        f"docs/api.md gives {error.code} {sorted(documented[error.code])}, not {error.status}"
    )
    body = error().body()
    assert body == {"errors": [{"code": error.code, "message": error.default_message}]}


def test_every_documented_code_exists() -> None:
    codes = {error.code for error in CATALOGUE}
    assert set(_documented()) - codes == set()


def _subclasses(base: type[RegistryError]) -> set[type[RegistryError]]:
    found: set[type[RegistryError]] = set()
    for sub in base.__subclasses__():
        found |= {sub} | _subclasses(sub)
    return found


def test_no_error_class_lives_outside_the_catalogue() -> None:
    for module in pkgutil.walk_packages(cargohold.__path__, "cargohold."):
        importlib.import_module(module.name)
    outside = sorted(
        f"{sub.__module__}.{sub.__qualname__}"
        for sub in _subclasses(RegistryError)
        if not _in_the_catalogue(sub.__module__)
    )
    assert outside == []


def test_every_error_of_the_catalogue_is_importable_from_it() -> None:
    """A class in a family module that `cargohold.errors` does not export would be missed by
    the checks above (and by `from cargohold.errors import ...`)."""
    for module in pkgutil.walk_packages(cargohold.__path__, "cargohold."):
        importlib.import_module(module.name)
    missing = sorted(
        f"{sub.__module__}.{sub.__qualname__}"
        for sub in _subclasses(RegistryError)
        if _in_the_catalogue(sub.__module__) and getattr(errors, sub.__name__, None) is not sub
    )
    assert missing == []
    assert sorted(errors.__all__) == sorted(
        name
        for name, value in vars(errors).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    )
