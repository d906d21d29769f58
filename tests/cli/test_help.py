"""Every command's help shows every help text whole: rich reads `[word ...]` as markup and drops
it, which left help texts such as "Job threads ." with their default missing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cargohold.cli.main import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under `command` (typer's own click, so duck-typed)."""
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def _flat(text: str) -> str:
    """Help text as rendered: markup escapes gone, whitespace and box borders collapsed."""
    return " ".join(text.replace("\\[", "[").replace("│", " ").split())


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "cargohold" for p, _ in COMMANDS]
)
def test_help_texts_are_shown_whole(path: tuple[str, ...], command: Any) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    shown = _flat(result.output)
    # What markup ate leaves a lone mark behind: "Job threads ." ("./data", "..." are fine).
    assert not re.search(r"\s[.,;:)](?=\s|$)", shown), shown
    texts = [p.help for p in command.params if getattr(p, "help", None)]
    texts.append((command.help or "").split("\n\n")[0])
    for text in texts:
        assert _flat(text) in shown, text
