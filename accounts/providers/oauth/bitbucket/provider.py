from allauth.socialaccount.providers.bitbucket_oauth2.provider import (
    BitbucketOAuth2Account,
    BitbucketOAuth2Provider,
)

from .. import SocialLoginSwitchMixin
from .views import BitbucketOAuth2Adapter


class BitbucketAccount(BitbucketOAuth2Account):
    def get_profile_url(self):
        # allauth's points at bitbucket.org whatever the configured host.
        return self.account.extra_data.get("links", {}).get("html", {}).get("href")


class BitbucketProvider(SocialLoginSwitchMixin, BitbucketOAuth2Provider):
    account_class = BitbucketAccount
    oauth2_adapter_class = BitbucketOAuth2Adapter
