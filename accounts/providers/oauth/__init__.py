"""Hub's allauth providers for GitHub and Bitbucket.

They keep allauth's provider ids (so the ``SocialAccount`` rows are
allauth's own) and are swapped in through
``SOCIALACCOUNT_PROVIDERS[id]["provider_class"]``. They differ from
allauth's in three ways:

- The provider URLs are read from settings on every request (allauth's
  GitHub adapter reads its settings once, at import, and cannot point the
  API elsewhere than ``<web>/api/v3``; Bitbucket's URLs are constants).
- The token is encrypted as soon as the profile has been fetched with it,
  so allauth only ever stores ciphertext (see ``accounts/social.py``).
- Leaving for the provider to sign in is refused up front while
  ``HUB_SOCIAL_LOGIN`` is off.

Each provider is a package because allauth builds its URLs from
``<package>.urls`` and ``<package>.views``.
"""

from accounts import social


class SealedTokenMixin:
    """For an ``OAuth2Adapter``: encrypt the token once the login is built."""

    seals_tokens = True  # checked by accounts.social.SocialAccountAdapter

    def complete_login(self, request, app, token, **kwargs):
        login = super().complete_login(request, app, token, **kwargs)
        social.linked_token_seal(token)
        return login


class SocialLoginSwitchMixin:
    """For an ``OAuth2Provider``: honour ``HUB_SOCIAL_LOGIN`` before redirecting."""

    def redirect(self, request, process, *args, **kwargs):
        social.social_login_check(request, provider_name=self.name, process=process)
        return super().redirect(request, process, *args, **kwargs)
