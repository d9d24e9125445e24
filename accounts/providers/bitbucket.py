"""Bitbucket Cloud's 2.0 API (HUB_BITBUCKET_URL, HUB_BITBUCKET_API_URL).
Its access tokens last two hours; the client renews them with the stored
refresh token."""

from urllib.parse import quote

import requests
from allauth.socialaccount.adapter import get_adapter
from django.conf import settings

from accounts import social

from .base import (
    ProviderClient,
    ProviderError,
    SourceRepository,
    Webhook,
    repository_path,
    with_credentials,
)


class BitbucketClient(ProviderClient):
    provider_id = "bitbucket_oauth2"
    name = "Bitbucket"
    push_events = ("repo:push",)

    @property
    def api_url(self):
        return settings.HUB_BITBUCKET_API_URL.rstrip("/")

    @property
    def web_url(self):
        return settings.HUB_BITBUCKET_URL.rstrip("/")

    def headers(self, access_token):
        return {"Accept": "application/json", "Authorization": f"Bearer {access_token}"}

    def list_repositories(self):
        repositories = []
        url = f"{self.api_url}/repositories"
        params = {"role": "member", "pagelen": 100}
        while url:
            data = self.request("GET", url, params=params).json()
            repositories.extend(self._repository(value) for value in data["values"])
            url, params = data.get("next"), None
        return repositories

    def get_repository(self, full_name):
        response = self.request("GET", f"{self.api_url}/repositories/{repository_path(full_name)}")
        return self._repository(response.json())

    def install_webhook(self, full_name, *, url, secret, events=None):
        body = {
            "description": "Hub",
            "url": url,
            "active": True,
            "secret": secret,
            "events": list(events or self.push_events),
        }
        response = self.request(
            "POST",
            f"{self.api_url}/repositories/{repository_path(full_name)}/hooks",
            json=body,
            expected=(201,),
        )
        data = response.json()
        return Webhook(id=data["uuid"], url=data["url"], events=tuple(data["events"]))

    def remove_webhook(self, full_name, hook_id):
        # The id is a UUID in braces, which a path must escape.
        self.request(
            "DELETE",
            f"{self.api_url}/repositories/{repository_path(full_name)}/hooks/"
            f"{quote(hook_id, safe='')}",
            expected=(204, 404),
        )

    def clone_url(self, full_name, *, authenticated=False):
        url = f"{self.web_url}/{repository_path(full_name)}.git"
        if authenticated:
            return with_credentials(url, "x-token-auth", self.access_token)
        return url

    def refresh(self):
        refresh_token = social.linked_token_secrets(self.token)[1]
        if not refresh_token:
            return False
        app = get_adapter().get_app(None, provider=self.provider_id)
        try:
            response = requests.post(
                f"{self.web_url}/site/oauth2/access_token",
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=(app.client_id, app.secret),
                timeout=settings.HUB_PROVIDER_TIMEOUT,
            )
        except requests.RequestException as error:
            raise ProviderError(f"{self.name} could not be reached: {error}") from error
        if response.status_code != 200:
            raise ProviderError(
                f"{self.name} refused to renew the access token ({response.status_code}); "
                "the account must be connected again.",
                status=response.status_code,
            )
        data = response.json()
        social.linked_token_update(
            token=self.token,
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token", ""),
            expires_in=data.get("expires_in"),
        )
        return True

    def _repository(self, data):
        full_name = data["full_name"]
        return SourceRepository(
            full_name=full_name,
            name=data["name"],
            private=data["is_private"],
            default_branch=(data.get("mainbranch") or {}).get("name", ""),
            # The API's clone links carry the user's name; this one does not.
            clone_url=f"{self.web_url}/{full_name}.git",
            html_url=data["links"]["html"]["href"],
            description=data.get("description") or "",
        )
