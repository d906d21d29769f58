"""The simple commands of a `RUN`, split the way a POSIX shell would split them.

shlex with punctuation characters tokenizes quotes and `&&`, `||`, `;`, `|` as sh does; that is
all the rules need (which programs run, with which words), not a full shell grammar."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from cargohold.lint.parse import Instruction

_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "{", "}"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Words that run the next word as the command.
_PREFIXES = {"sudo", "exec", "nohup", "time", "command", "env", "xargs"}


@dataclass(frozen=True)
class Command:
    """One simple command: its words (program first) and the variables set before it."""

    words: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def program(self) -> str:
        return self.words[0].rsplit("/", 1)[-1] if self.words else ""

    def arguments(self) -> list[str]:
        """The words after the program that are not options."""
        return [w for w in self.words[1:] if not w.startswith("-")]

    def subcommand(self) -> str:
        """The first non-option word after the program (`install` in `apt-get -y install x`)."""
        args = self.arguments()
        return args[0] if args else ""

    def has(self, *options: str) -> bool:
        """Whether any word is one of `options` or starts with `option=`."""
        return any(w in options or w.split("=", 1)[0] in options for w in self.words[1:])


def commands(instruction: Instruction) -> list[Command]:
    """The simple commands a RUN (or a shell-form CMD) runs, heredoc body included."""
    if instruction.is_exec_form:
        try:
            words = json.loads(instruction.args)
        except ValueError:
            words = None
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            if words[:2] in (["/bin/sh", "-c"], ["sh", "-c"], ["/bin/bash", "-c"], ["bash", "-c"]):
                return split(" ".join(words[2:]))
            return [Command(tuple(words))]
    text = instruction.args
    if instruction.heredoc is not None:
        body = [
            line for line in instruction.heredoc.splitlines() if not line.lstrip().startswith("#")
        ]
        text = re.sub(r"<<-?[\"']?[A-Za-z_][\w.-]*[\"']?", "", text) + "\n" + "\n".join(body)
    return split(text)


def pipes(instruction: Instruction) -> bool:
    """Whether a shell-form RUN has a pipeline (`a | b`, not `a || b`)."""
    if instruction.is_exec_form:
        return False
    text = instruction.args if instruction.heredoc is None else instruction.heredoc
    return any("|" in _tokens(line) for line in re.sub(r"\\\n", " ", text).split("\n"))


def split(script: str) -> list[Command]:
    """The simple commands of a shell script; each line of it (continuations folded) ends one."""
    found: list[Command] = []
    for line in re.sub(r"\\\n", " ", script).split("\n"):
        current: list[str] = []
        for token in [*_tokens(line), ";"]:
            if token in _SEPARATORS or set(token) <= set(";|&()"):
                if current:
                    found.append(_command(current))
                current = []
            else:
                current.append(token)
    return found


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"  # `RUN make  # comment`: the shell drops the rest of the line
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: split on blanks and separators only
        return re.findall(r"&&|\|\||[;|&()]|[^\s;|&()]+", line)


def _command(words: list[str]) -> Command:
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words[0].partition("=")
        env[name] = value
        words = words[1:]
    while len(words) > 1 and words[0] in _PREFIXES:
        words = words[1:]
        while words and (words[0].startswith("-") or _ASSIGNMENT.match(words[0])):
            if _ASSIGNMENT.match(words[0]):
                name, _, value = words[0].partition("=")
                env[name] = value
            words = words[1:]
    return Command(tuple(words), env)
