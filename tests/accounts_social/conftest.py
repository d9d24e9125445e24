import copy

import pytest

from .fake_providers import FakeBitbucket, FakeGitHub


def _configure_app(settings, provider_id, fake):
    # Copy, so the provider_class entries Hub relies on stay.
    providers = copy.deepcopy(settings.SOCIALACCOUNT_PROVIDERS)
    providers[provider_id]["APP"] = {"client_id": fake.client_id, "secret": fake.client_secret}
    settings.SOCIALACCOUNT_PROVIDERS = providers


@pytest.fixture(autouse=True)
def social_login_off(settings):
    settings.HUB_SOCIAL_LOGIN = False


@pytest.fixture
def github(settings):
    fake = FakeGitHub(client_id="gh-client", client_secret="gh-secret", page_size=2).start()
    fake.add_user("octocat", email="octocat@example.com", name="Mona Lisa")
    settings.HUB_GITHUB_URL = fake.url
    settings.HUB_GITHUB_API_URL = fake.api_url
    _configure_app(settings, "github", fake)
    yield fake
    fake.stop()


@pytest.fixture
def bitbucket(settings):
    fake = FakeBitbucket(client_id="bb-key", client_secret="bb-secret", page_size=2).start()
    fake.add_user("bucketeer", email="bucketeer@example.com", name="Bucket Eer")
    settings.HUB_BITBUCKET_URL = fake.url
    settings.HUB_BITBUCKET_API_URL = fake.api_url
    _configure_app(settings, "bitbucket_oauth2", fake)
    yield fake
    fake.stop()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
