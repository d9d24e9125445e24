"""Repository names, tags and references, as the distribution spec defines them."""

import re

NAME_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_PATTERN = rf"{NAME_COMPONENT}(?:/{NAME_COMPONENT})*"
TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"

NAME_RE = re.compile(rf"^{NAME_PATTERN}\Z")
TAG_RE = re.compile(rf"^{TAG_PATTERN}\Z")

# Docker's limit on a whole repository name, host name excluded.
NAME_MAX_LENGTH = 255
# A one-component name lives in this namespace, as on Docker Hub.
DEFAULT_NAMESPACE = "library"


def is_valid_name(name):
    return len(name) <= NAME_MAX_LENGTH and NAME_RE.match(name) is not None


def is_valid_tag(tag):
    return TAG_RE.match(tag) is not None


def split_name(name):
    """Split ``ns/repo[/more]`` into its namespace and the rest; a name of
    one component belongs to the default namespace."""
    namespace, _, rest = name.partition("/")
    if not rest:
        return DEFAULT_NAMESPACE, namespace
    return namespace, rest
