"""A Dockerfile as stages of instructions, read with dockerfile-parse.

dockerfile-parse folds line continuations, keeps comments, and resolves `ARG` defaults in the
base images; it does not know heredocs (`RUN <<EOF`), whose bodies it reads as instructions of
their own, so they are folded back into the instruction that opened them here. Lines are
1-based, as editors and SARIF count them."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FLAG = re.compile(r"--([A-Za-z][\w-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?\s*")
_HEREDOC = re.compile(r"<<-?([\"']?)([A-Za-z_][\w.-]*)\1")
_IGNORE = re.compile(r"^cargohold-ignore\s*[= ]\s*(.+)$", re.IGNORECASE)
_RULE_ID = re.compile(r"[A-Za-z]+\d+")


class DockerfileError(ValueError):
    """The text is not a Dockerfile this linter can read."""


@dataclass
class Instruction:
    keyword: str
    line: int
    end_line: int
    value: str
    flags: list[tuple[str, str]] = field(default_factory=list)
    args: str = ""
    heredoc: str | None = None
    ignored: frozenset[str] = frozenset()

    def flag(self, name: str) -> str | None:
        """The value of the last `--name=` flag, "" for a bare `--name`, None when absent."""
        found = None
        for key, value in self.flags:
            if key == name:
                found = value
        return found

    @property
    def is_exec_form(self) -> bool:
        return self.args.lstrip().startswith("[")


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    from_instruction: Instruction
    base_stage: Stage | None = None
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.from_instruction.line

    def lineage(self) -> list[Stage]:
        """This stage and the stages it is built `FROM`, nearest first."""
        chain: list[Stage] = []
        stage: Stage | None = self
        while stage is not None:
            chain.append(stage)
            stage = stage.base_stage
        return chain

    def all_instructions(self) -> list[Instruction]:
        """What ends up in this stage's image: its own instructions and its base stages'."""
        return [i for stage in reversed(self.lineage()) for i in stage.instructions]


@dataclass
class Dockerfile:
    path: str
    stages: list[Stage]
    global_args: list[Instruction]
    context: Path | None = None

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage_named(self, reference: str) -> Stage | None:
        """The stage a `FROM x` or `COPY --from=x` names (by name or by index)."""
        return find_stage(self.stages, reference)


def find_stage(stages: list[Stage], reference: str) -> Stage | None:
    for stage in stages:
        if (stage.name and stage.name.lower() == reference.lower()) or str(
            stage.index
        ) == reference:
            return stage
    return None


def parse(
    text: str, path: str = "Dockerfile", build_args: dict[str, str] | None = None
) -> Dockerfile:
    """Read a Dockerfile's text into stages; a text without `FROM` is a DockerfileError."""
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")), build_args=build_args or {})
    try:
        structure = sorted(parser.structure, key=lambda s: s["startline"])
        bases = list(parser.parent_images)
    except Exception as exc:  # dockerfile-parse raises bare exceptions on broken input
        raise DockerfileError(f"{path}: not a Dockerfile this linter can read: {exc}") from None
    lines = text.splitlines()
    instructions = _instructions(structure, lines)
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            if not instruction.args:
                raise DockerfileError(f"{path}:{instruction.line}: FROM without an image")
            stages.append(_stage(len(stages), instruction, bases, stages))
        elif stages:
            stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            global_args.append(instruction)
        else:
            raise DockerfileError(
                f"{path}:{instruction.line}: {instruction.keyword} before the first FROM"
            )
    if not stages:
        raise DockerfileError(f"{path}: no FROM instruction: not a Dockerfile")
    return Dockerfile(path, stages, global_args)


def _instructions(structure: list[dict[str, Any]], lines: list[str]) -> list[Instruction]:
    found: list[Instruction] = []
    ignored: set[str] = set()
    heredoc_until = -1
    for entry in structure:
        start = entry["startline"]
        if start <= heredoc_until:
            continue  # a heredoc body line that dockerfile-parse took for an instruction
        keyword = entry["instruction"].upper()
        if keyword == "COMMENT":
            match = _IGNORE.match(entry["value"].strip())
            if match:
                ignored.update(r.upper() for r in _RULE_ID.findall(match.group(1)))
            continue
        instruction = _instruction(keyword, entry, frozenset(ignored))
        ignored = set()
        heredoc = _HEREDOC.search(instruction.args)
        if heredoc:
            end = _heredoc_end(lines, start + 1, heredoc.group(2))
            instruction.heredoc = "\n".join(lines[start + 1 : end])
            instruction.end_line = end + 1
            heredoc_until = end
        found.append(instruction)
    return found


def _heredoc_end(lines: list[str], first: int, word: str) -> int:
    for number in range(first, len(lines)):
        if lines[number].strip() == word:
            return number
    return len(lines) - 1


def _instruction(keyword: str, entry: dict[str, Any], ignored: frozenset[str]) -> Instruction:
    value = entry["value"].strip()
    flags: list[tuple[str, str]] = []
    rest = value
    while rest.startswith("--"):
        match = _FLAG.match(rest)
        if not match:
            break
        flags.append((match.group(1).lower(), (match.group(2) or "").strip("\"'")))
        rest = rest[match.end() :]
    return Instruction(
        keyword,
        entry["startline"] + 1,
        entry["endline"] + 1,
        value,
        flags,
        rest.strip(),
        None,
        ignored,
    )


def _stage(index: int, instruction: Instruction, bases: list[str], stages: list[Stage]) -> Stage:
    words = instruction.args.split()
    name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    base = bases[index] if index < len(bases) and bases[index] else (words[0] if words else "")
    return Stage(index, name, base, instruction, find_stage(stages, base))


def read(path: Path, display: str | None = None) -> Dockerfile:
    """Parse the Dockerfile at `path`; its build context is taken to be its directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DockerfileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DockerfileError(f"{path}: cannot read: {exc}") from None
    dockerfile = parse(text, display or str(path))
    dockerfile.context = path.parent
    return dockerfile
