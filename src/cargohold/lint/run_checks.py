"""CH209: how RUN commands fail (or do not)."""

from __future__ import annotations

from collections.abc import Iterator

from cargohold.lint import catalog
from cargohold.lint.model import Finding, LintOptions
from cargohold.lint.parse import Dockerfile
from cargohold.lint.shell import pipes


def check_pipefail(dockerfile: Dockerfile, options: LintOptions) -> Iterator[Finding]:
    for stage in dockerfile.stages:
        # SHELL holds for the rest of the stage and for the stages built FROM it.
        shell_pipefail = any(
            i.keyword == "SHELL" and "pipefail" in i.args
            for s in stage.lineage()[1:]
            for i in s.instructions
        )
        for instruction in stage.instructions:
            if instruction.keyword == "SHELL":
                shell_pipefail = "pipefail" in instruction.args
            elif instruction.keyword == "RUN" and not shell_pipefail and pipes(instruction):
                if "pipefail" not in (instruction.args + (instruction.heredoc or "")):
                    yield Finding(
                        catalog.PIPE_WITHOUT_PIPEFAIL,
                        instruction.line,
                        "the RUN succeeds when any command but the last in a pipe fails",
                        instruction.end_line,
                    )


CHECKS = (check_pipefail,)
