import pytest

from builds import net
from builds.net import UnsafeURL, check_git_url, check_webhook_url


@pytest.fixture(autouse=True)
def guarded(settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    settings.HUB_ALLOW_PRIVATE_NETWORKS = False


@pytest.fixture
def resolves_to(monkeypatch):
    """Make every host name resolve to the given addresses, without DNS."""

    def fake(*addresses):
        monkeypatch.setattr(net, "resolve", lambda host, port: list(addresses))

    return fake


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/repo.git",
        "https://127.8.9.10/repo.git",
        "http://10.0.0.5/hook",
        "https://172.16.0.1/repo.git",
        "https://172.31.255.254/repo.git",
        "https://192.168.1.10/repo.git",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/repo.git",
        "https://[fc00::1]/repo.git",
        "https://[fd12:3456::1]/repo.git",
        "https://[fe80::1]/repo.git",
        "https://[::ffff:127.0.0.1]/repo.git",
        "https://0.0.0.0/repo.git",
        "https://100.64.0.1/repo.git",
        "git://127.0.0.1/repo.git",
        "ssh://git@10.1.2.3/repo.git",
        "git@192.168.0.2:acme/widget.git",
    ],
)
def test_non_public_addresses_are_refused(url):
    checker = check_webhook_url if url.startswith("http://") else check_git_url
    with pytest.raises(UnsafeURL, match="not a public address"):
        checker(url)


def test_public_addresses_pass():
    assert check_git_url("https://140.82.112.3/acme/widget.git") == ["140.82.112.3"]
    assert check_git_url("git@[2606:4700::1111]:acme/widget.git") == ["2606:4700::1111"]


def test_localhost_by_name_is_refused():
    with pytest.raises(UnsafeURL):
        check_git_url("https://localhost/repo.git")


def test_every_address_of_a_name_is_checked(resolves_to):
    resolves_to("140.82.112.3", "10.0.0.7")
    with pytest.raises(UnsafeURL, match="10.0.0.7"):
        check_git_url("https://git.example.com/acme/widget.git")
    resolves_to("140.82.112.3", "2606:4700::1111")
    assert check_git_url("https://git.example.com/acme/widget.git")


def test_allowed_address_via_setting(settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    assert check_git_url("git://127.0.0.1:9418/repo.git") == ["127.0.0.1"]
    assert check_webhook_url("http://127.0.0.1:8080/hook") == ["127.0.0.1"]
    with pytest.raises(UnsafeURL):
        check_git_url("https://127.0.0.2/repo.git")


def test_allowed_network_and_host_name_via_setting(settings, resolves_to):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["10.1.0.0/16", "git.internal"]
    assert check_git_url("https://10.1.2.3/repo.git")
    with pytest.raises(UnsafeURL):
        check_git_url("https://10.2.0.1/repo.git")
    resolves_to("192.168.7.7")
    assert check_git_url("ssh://git@git.internal/repo.git") == ["192.168.7.7"]


def test_private_networks_allowed_entirely(settings):
    settings.HUB_ALLOW_PRIVATE_NETWORKS = True
    assert check_git_url("https://192.168.1.10/repo.git")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ext::sh -c touch% /tmp/pwned",
        "ftp://140.82.112.3/repo.git",
        "https:///no-host",
        "ssh://-oProxyCommand=touch%20x/repo.git",
        "/local/path",
    ],
)
def test_other_urls_are_refused(url):
    with pytest.raises(UnsafeURL):
        check_git_url(url)


def test_webhook_urls_must_be_http():
    with pytest.raises(UnsafeURL, match="scheme"):
        check_webhook_url("git://140.82.112.3/x")


def test_unresolvable_host_is_refused(monkeypatch):
    with pytest.raises(UnsafeURL, match="cannot be resolved"):
        check_git_url("https://no-such-host.invalid/repo.git")
