"""Git providers behind one interface: ``source_for(provider)``."""

from .base import (
    Push,
    Source,
    SourceError,
    WebhookForbidden,
    WebhookInvalid,
    generic_parse,
    generic_token_matches,
    generic_verify,
)
from .bitbucket import BitbucketSource
from .git import GitSource
from .github import GitHubSource

__all__ = [
    "BitbucketSource",
    "GitHubSource",
    "GitSource",
    "Push",
    "Source",
    "SourceError",
    "WebhookForbidden",
    "WebhookInvalid",
    "generic_parse",
    "generic_token_matches",
    "generic_verify",
    "source_for",
]

SOURCES = {source.provider: source for source in (GitHubSource, BitbucketSource, GitSource)}


def source_for(provider):
    """The source for a provider id ("github", "bitbucket", "git")."""
    try:
        return SOURCES[provider]()
    except KeyError:
        raise ValueError(f"Unknown source provider: {provider!r}") from None
