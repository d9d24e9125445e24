from allauth.socialaccount.providers.github.provider import (
    GitHubProvider as AllauthGitHubProvider,
)

from .. import SocialLoginSwitchMixin
from .views import GitHubOAuth2Adapter


class GitHubProvider(SocialLoginSwitchMixin, AllauthGitHubProvider):
    oauth2_adapter_class = GitHubOAuth2Adapter
