from allauth.socialaccount.providers.bitbucket_oauth2.views import (
    BitbucketOAuth2Adapter as AllauthBitbucketOAuth2Adapter,
)
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings

from .. import SealedTokenMixin


class BitbucketOAuth2Adapter(SealedTokenMixin, AllauthBitbucketOAuth2Adapter):
    @property
    def access_token_url(self):
        return f"{settings.HUB_BITBUCKET_URL.rstrip('/')}/site/oauth2/access_token"

    @property
    def authorize_url(self):
        return f"{settings.HUB_BITBUCKET_URL.rstrip('/')}/site/oauth2/authorize"

    @property
    def profile_url(self):
        return f"{settings.HUB_BITBUCKET_API_URL.rstrip('/')}/user"

    @property
    def emails_url(self):
        return f"{settings.HUB_BITBUCKET_API_URL.rstrip('/')}/user/emails"


oauth2_login = OAuth2LoginView.adapter_view(BitbucketOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(BitbucketOAuth2Adapter)
