"""GitHub's REST API (github.com, or a GitHub Enterprise server through
HUB_GITHUB_URL and HUB_GITHUB_API_URL)."""

from django.conf import settings

from .base import ProviderClient, SourceRepository, Webhook, repository_path, with_credentials


class GitHubClient(ProviderClient):
    provider_id = "github"
    name = "GitHub"
    push_events = ("push",)

    @property
    def api_url(self):
        return settings.HUB_GITHUB_API_URL.rstrip("/")

    @property
    def web_url(self):
        return settings.HUB_GITHUB_URL.rstrip("/")

    def headers(self, access_token):
        return {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {access_token}",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def list_repositories(self):
        repositories = []
        url = f"{self.api_url}/user/repos"
        params = {"per_page": 100, "sort": "full_name"}
        while url:
            response = self.request("GET", url, params=params)
            repositories.extend(self._repository(data) for data in response.json())
            # The next page's URL carries the query already.
            url, params = response.links.get("next", {}).get("url"), None
        return repositories

    def get_repository(self, full_name):
        response = self.request("GET", f"{self.api_url}/repos/{repository_path(full_name)}")
        return self._repository(response.json())

    def install_webhook(self, full_name, *, url, secret, events=None):
        body = {
            "name": "web",
            "active": True,
            "events": list(events or self.push_events),
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        }
        response = self.request(
            "POST",
            f"{self.api_url}/repos/{repository_path(full_name)}/hooks",
            json=body,
            expected=(201,),
        )
        data = response.json()
        return Webhook(id=str(data["id"]), url=data["config"]["url"], events=tuple(data["events"]))

    def remove_webhook(self, full_name, hook_id):
        self.request(
            "DELETE",
            f"{self.api_url}/repos/{repository_path(full_name)}/hooks/{int(hook_id)}",
            expected=(204, 404),
        )

    def clone_url(self, full_name, *, authenticated=False):
        url = f"{self.web_url}/{repository_path(full_name)}.git"
        if authenticated:
            # GitHub takes an OAuth token as the user name.
            return with_credentials(url, self.access_token, "x-oauth-basic")
        return url

    def _repository(self, data):
        return SourceRepository(
            full_name=data["full_name"],
            name=data["name"],
            private=data["private"],
            default_branch=data.get("default_branch") or "",
            clone_url=data["clone_url"],
            html_url=data["html_url"],
            description=data.get("description") or "",
        )
