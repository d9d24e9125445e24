"""Linked GitHub and Bitbucket accounts, through django-allauth.

Two rules live here:

- Signing in and signing up with a provider happen only when
  ``HUB_SOCIAL_LOGIN`` is on. Off, a signed-in user may still connect an
  account (allauth's ``process=connect``), which is what builds need.
- Provider tokens are kept encrypted. allauth stores a ``SocialToken`` in
  plain text; Hub's own OAuth adapters (``accounts/providers/oauth/``)
  encrypt the token in place as soon as they have fetched the profile with
  it, so every copy allauth makes afterwards (the ``SocialToken`` row, a
  sign-up waiting in the session) holds ciphertext. Read them back with
  ``linked_token_secrets``. The adapter refuses to run a provider whose
  OAuth adapter does not encrypt (allauth's own classes, should
  ``SOCIALACCOUNT_PROVIDERS[...]["provider_class"]`` go missing).
"""

import re
from datetime import timedelta

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.utils import user_username
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base.constants import AuthProcess
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from . import crypto, services
from .names import MAX_LENGTH, MIN_LENGTH


def social_login_enabled():
    return settings.HUB_SOCIAL_LOGIN


def social_login_check(request, *, provider_name, process):
    """Refuse, with a message, any flow but connecting an account while
    signing in with providers is off."""
    if process == AuthProcess.CONNECT or social_login_enabled():
        return
    messages.error(
        request,
        f"Signing in with {provider_name} is turned off on this Hub. Sign in with your "
        f"username and password; you can then connect your {provider_name} account "
        "in your account settings.",
    )
    raise ImmediateHttpResponse(HttpResponseRedirect(reverse("account_login")))


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Linked GitHub and Bitbucket accounts."""

    def get_provider(self, request, provider, client_id=None):
        provider = super().get_provider(request, provider, client_id=client_id)
        adapter_class = getattr(provider, "oauth2_adapter_class", None)
        if not getattr(adapter_class, "seals_tokens", False):
            raise ImproperlyConfigured(
                f"The {provider.id} provider would store its tokens unencrypted: set "
                f'SOCIALACCOUNT_PROVIDERS["{provider.id}"]["provider_class"] to Hub\'s class '
                "(accounts/providers/oauth/)."
            )
        return provider

    def pre_social_login(self, request, sociallogin):
        # The provider classes refuse before leaving for the provider; this
        # catches a flow begun while the setting was on.
        social_login_check(
            request,
            provider_name=sociallogin.provider.name,
            process=sociallogin.state.get("process"),
        )

    def is_open_for_signup(self, request, sociallogin):
        return social_login_enabled() and super().is_open_for_signup(request, sociallogin)

    def list_providers(self, request):
        # Feeds the "sign in with" buttons; a signed-in user sees them to
        # connect accounts.
        user = getattr(request, "user", None)
        if social_login_enabled() or (user is not None and user.is_authenticated):
            return super().list_providers(request)
        return []

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user_username(user, _namespace_like(user_username(user) or ""))
        return user

    @transaction.atomic
    def save_user(self, request, sociallogin, form=None):
        if form is None:
            # Signing up without a form: allauth has already cleared a
            # provider name that is taken or invalid here.
            provider_fields = sociallogin.account.get_provider().extract_common_fields(
                sociallogin.account.extra_data
            )
            wanted = user_username(sociallogin.user) or provider_fields.get("username") or ""
            user_username(sociallogin.user, _available_username(request, wanted))
        user = super().save_user(request, sociallogin, form=form)
        services.user_namespace_create(user=user)
        return user


def _namespace_like(name):
    """A provider's user name (``Octo_Cat``) in the namespace grammar."""
    name = re.sub(r"[^a-z0-9._-]+", "-", name.lower())
    name = re.sub(r"[._-]{2,}", "-", name).strip("._-")
    return name[:MAX_LENGTH].rstrip("._-")


def _available_username(request, wanted):
    base = _namespace_like(wanted)
    if len(base) < MIN_LENGTH:
        base = "user"
    base = base[: MAX_LENGTH - 4].rstrip("._-")
    adapter = get_account_adapter(request)
    for number in range(1, 10000):
        candidate = base if number == 1 else f"{base}{number}"
        try:
            return adapter.clean_username(candidate)
        except ValidationError:
            continue
    raise ValidationError("No free user name is left for this account.", code="taken")


# Tokens -------------------------------------------------------------------


def linked_token_seal(token):
    """Encrypt, in place, a ``SocialToken`` that allauth has not stored yet."""
    token.token = crypto.encrypt(token.token)
    if token.token_secret:
        token.token_secret = crypto.encrypt(token.token_secret)
    return token


def linked_token_secrets(token):
    """``(access_token, refresh_token)`` of a stored ``SocialToken``; the
    refresh token is "" when the provider gave none (GitHub)."""
    refresh = crypto.decrypt(token.token_secret) if token.token_secret else ""
    return crypto.decrypt(token.token), refresh


@transaction.atomic
def linked_token_update(*, token, access_token, refresh_token="", expires_in=None):
    """Keep the tokens a refresh returned. Providers that do not rotate the
    refresh token leave it out, and the stored one stays."""
    token.token = crypto.encrypt(access_token)
    if refresh_token:
        token.token_secret = crypto.encrypt(refresh_token)
    token.expires_at = timezone.now() + timedelta(seconds=int(expires_in)) if expires_in else None
    token.save(update_fields=["token", "token_secret", "expires_at"])
    return token
