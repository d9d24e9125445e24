from allauth.socialaccount.providers.github.views import (
    GitHubOAuth2Adapter as AllauthGitHubOAuth2Adapter,
)
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings

from .. import SealedTokenMixin


class GitHubOAuth2Adapter(SealedTokenMixin, AllauthGitHubOAuth2Adapter):
    # GitHub answers the token request in JSON only when asked to.
    headers = {"Accept": "application/json"}

    @property
    def web_url(self):
        return settings.HUB_GITHUB_URL.rstrip("/")

    @property
    def api_url(self):
        return settings.HUB_GITHUB_API_URL.rstrip("/")

    @property
    def access_token_url(self):
        return f"{self.web_url}/login/oauth/access_token"

    @property
    def authorize_url(self):
        return f"{self.web_url}/login/oauth/authorize"

    @property
    def profile_url(self):
        return f"{self.api_url}/user"

    @property
    def emails_url(self):
        return f"{self.api_url}/user/emails"


oauth2_login = OAuth2LoginView.adapter_view(GitHubOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(GitHubOAuth2Adapter)
