r"""Tag patterns: a glob that matches the whole tag (``v*``, ``release-*``,
fnmatch's ``*``, ``?`` and ``[...]``, case-sensitive), or a regular expression
between slashes (``/^\d+\.\d+\.\d+$/``), searched for anywhere in the tag
unless anchored.

Regular expressions are written by repository admins and run on every push,
so they run on RE2 (google-re2), whose matching time is linear in the tag:
a pattern such as ``/(a+)+$/`` cannot hold a web process for minutes as it
would with Python's backtracking ``re``. RE2 has no backreferences or
lookaround; a pattern using them is refused when it is saved. Globs, which
fnmatch translates into expressions without either, use ``re``."""

import fnmatch
import functools
import re

import re2

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised, and reported to the person

# Longer than any tag (128), so a pattern is never cut short, yet bounded.
MAX_LENGTH = 255


class InvalidPattern(ValueError):
    pass


def is_regex(pattern):
    return len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/")


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern):
    """A compiled regular expression for ``pattern``; InvalidPattern when it is none."""
    if not pattern or pattern != pattern.strip():
        raise InvalidPattern("A pattern may not be empty or begin or end with a space.")
    if len(pattern) > MAX_LENGTH:
        raise InvalidPattern(f"A pattern may be at most {MAX_LENGTH} characters long.")
    if not is_regex(pattern):
        return re.compile(fnmatch.translate(pattern))
    if pattern == "//":
        raise InvalidPattern("The regular expression between the slashes is empty.")
    try:
        return re2.compile(pattern[1:-1], _RE2_OPTIONS)
    except re2.error as exc:
        reason = b" ".join(exc.args).decode(errors="replace") if exc.args else "unknown error"
        raise InvalidPattern(f"{pattern} is not a valid regular expression: {reason}.") from None


def matches(pattern, tag):
    """Whether ``tag`` matches ``pattern``; an invalid pattern matches nothing."""
    try:
        compiled = compile_pattern(pattern)
    except InvalidPattern:
        return False
    if is_regex(pattern):
        return compiled.search(tag) is not None
    return compiled.match(tag) is not None
