"""Clients for the git providers a user links an account at. Builds reach
them through ``client_for``."""

from .base import ProviderClient, ProviderError, SourceRepository, Webhook
from .bitbucket import BitbucketClient
from .github import GitHubClient

__all__ = [
    "BitbucketClient",
    "GitHubClient",
    "ProviderClient",
    "ProviderError",
    "SourceRepository",
    "Webhook",
    "client_for",
    "client_for_account",
]

CLIENTS = {client.provider_id: client for client in (GitHubClient, BitbucketClient)}
# Short names builds may use, beside allauth's provider ids.
ALIASES = {"bitbucket": BitbucketClient.provider_id}


def client_for(user, provider):
    """The client for ``user``'s linked account at ``provider`` ("github",
    "bitbucket" or allauth's "bitbucket_oauth2"), or None when none is
    linked. With several accounts there, the one used last."""
    from allauth.socialaccount.models import SocialToken

    provider_id = ALIASES.get(provider, provider)
    if provider_id not in CLIENTS:
        raise ValueError(f"Unknown provider: {provider!r}")
    token = (
        SocialToken.objects.filter(account__user=user, account__provider=provider_id)
        .select_related("account")
        .order_by("-account__last_login", "-pk")
        .first()
    )
    return None if token is None else CLIENTS[provider_id](token=token)


def client_for_account(account):
    """The client for one ``SocialAccount``, or None when it has no token."""
    token = account.socialtoken_set.first()
    if token is None or account.provider not in CLIENTS:
        return None
    return CLIENTS[account.provider](token=token)
