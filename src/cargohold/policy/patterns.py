"""Tag patterns written by users, matched in time linear in the tag's length.

Regexes go to RE2 (google-re2), whose automata never backtrack: `(a+)+$` costs what `a+$`
costs. RE2 refuses what needs backtracking (backreferences, lookaround, possessive and atomic
groups) and repetition counts over 1000; those patterns are refused when a rule is created,
with RE2's reason. Globs stay with the standard library's `fnmatch`, whose translation has had
no nested quantifiers since Python 3.9. See docs/decisions/006-linear-time-tag-patterns.md.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache

import re2

# Tags are at most 128 characters: a longer pattern is a mistake or an attack.
MAX_PATTERN_LENGTH = 256
# Compiled programs kept per process; patterns come from stored rules and policies.
_CACHE_SIZE = 1024


class PatternInvalid(ValueError):
    """A pattern the engine refuses; the message says why, in one line."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to the caller, not to stderr
    options.never_capture = True  # only "does it match" is asked: no submatch bookkeeping
    return options


_OPTIONS = _options()


def _check_length(pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternInvalid(
            f"is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
        )


def _reason(exc: re2.error) -> str:
    reason = exc.args[0] if exc.args else "rejected"
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


@lru_cache(maxsize=_CACHE_SIZE)
def compile_regex(pattern: str) -> re2._Regexp:
    """The compiled RE2 program for `pattern`; PatternInvalid when RE2 refuses it."""
    _check_length(pattern)
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raise PatternInvalid(
            "is not a valid regex (RE2 syntax, matched in linear time: no backreferences or"
            f" lookaround): {_reason(exc)}"
        ) from None


def check_glob(pattern: str) -> None:
    """PatternInvalid when a glob is too long to be a tag pattern."""
    _check_length(pattern)


def regex_fullmatch(pattern: str, text: str) -> bool:
    return compile_regex(pattern).fullmatch(text) is not None


def glob_match(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


@lru_cache(maxsize=_CACHE_SIZE)
def wildcard_regex(pattern: str) -> re2._Regexp:
    """ECR's `tagPatternList` entry: `*` is any run of characters, everything else literal.

    Escaped literals and `.*` always compile; the length is bounded where policies are
    validated (escaping makes the program longer than the pattern).
    """
    return re2.compile(".*".join(re2.escape(part) for part in pattern.split("*")), _OPTIONS)
