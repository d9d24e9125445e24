"""Names of users and organizations: they are the first component of
repository names, so they follow the registry's grammar, and some are kept
back for the host itself."""

import re

from django.core.exceptions import ValidationError

NAMESPACE_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*\Z")
MIN_LENGTH, MAX_LENGTH = 2, 30

RESERVED = frozenset(
    """
    library v1 v2 api admin static media auth token login logout signup register
    account accounts settings search explore u user users org orgs organization
    organizations team teams repository repositories r _ help about docs status
    build builds webhook webhooks hooks new create official root www hub registry
    """.split()
)


def validate_namespace_name(name):
    """Raise ValidationError with a message a person understands."""
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise ValidationError(
            f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters.", code="length"
        )
    if not NAMESPACE_RE.match(name):
        raise ValidationError(
            "Use lowercase letters and digits, separated by single dots, dashes or "
            "underscores; start and end with a letter or digit.",
            code="invalid",
        )
    if name in RESERVED:
        raise ValidationError(f"“{name}” is reserved. Please choose another name.", code="reserved")
