"""The repository page: overview, tags, builds, settings; 404 for a private
repository its viewer cannot read."""

from datetime import timedelta

import pytest
from django.utils import timezone

from repositories import services
from repositories.models import PullDay, Repository, Tag

from .conftest import make_tag

TABS = ("", "tags/", "builds/")


@pytest.mark.parametrize("suffix", TABS)
def test_public_repository_pages_render_for_anyone(client, public_repo, suffix):
    response = client.get(f"/r/alice/web/{suffix}")

    assert response.status_code == 200
    page = response.content.decode()
    assert "alice/" in page and ">web</h1>" in page
    assert "the web front" in page
    assert "/r/alice/web/settings/" not in page


@pytest.mark.parametrize("suffix", [*TABS, "settings/"])
def test_private_repository_is_404_to_others(client_for, bob, private_repo, suffix):
    assert client_for(None).get(f"/r/alice/secret-sauce/{suffix}").status_code == 404
    assert client_for(bob).get(f"/r/alice/secret-sauce/{suffix}").status_code == 404


@pytest.mark.parametrize("suffix", [*TABS, "settings/"])
def test_private_repository_renders_for_its_owner(client_for, alice, private_repo, suffix):
    response = client_for(alice).get(f"/r/alice/secret-sauce/{suffix}")

    assert response.status_code == 200
    assert "Private" in response.content.decode()


def test_a_read_collaborator_sees_the_private_repository_but_not_its_settings(
    client_for, bob, private_repo
):
    services.collaborator_set(repository=private_repo, user=bob, permission="read")
    client = client_for(bob)

    assert client.get("/r/alice/secret-sauce/").status_code == 200
    page = client.get("/r/alice/secret-sauce/").content.decode()
    assert "/r/alice/secret-sauce/settings/" not in page
    assert client.get("/r/alice/secret-sauce/settings/").status_code == 403


def test_unknown_repository_is_404(client):
    assert client.get("/r/alice/nothing/").status_code == 404


def test_badges_counts_and_builds_placeholder(client, library, make_repository):
    repository = make_repository(library, "redis", is_official=True)
    Repository.objects.filter(pk=repository.pk).update(
        is_automated=True, star_count=7, pull_count=1234
    )

    page = client.get("/r/library/redis/").content.decode()
    assert '<span class="badge official">Official</span>' in page
    assert '<span class="badge">Automated</span>' in page
    assert 'aria-label="7 stars">7</span>' in page
    assert "1234 pulls" in page
    builds = client.get("/r/library/redis/builds/").content.decode()
    assert "Automated builds are not configured" in builds


def test_full_description_is_rendered_markdown_without_scripts(client, alice, make_repository):
    make_repository(
        alice.namespace,
        "docs",
        full_description=(
            "# Title\n\nSome **bold** text and [a link](https://example.com).\n\n"
            "<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>\n\n"
            "```\ncode here\n```\n"
        ),
    )

    page = client.get("/r/alice/docs/").content.decode()
    assert "<h1>Title</h1>" in page
    assert "<strong>bold</strong>" in page
    assert 'href="https://example.com"' in page
    assert "<pre><code>code here" in page
    assert "<script>alert" not in page
    assert "onerror" not in page


def test_pull_command_for_library_and_namespaced_repositories(
    client, library, public_repo, make_repository
):
    make_repository(library, "busybox")

    library_page = client.get("/r/library/busybox/", HTTP_HOST="hub.example").content.decode()
    assert 'value="docker pull hub.example/busybox"' in library_page
    assert "data-copy=" in library_page and "/static/hub/copy.js" in library_page
    namespaced = client.get("/r/alice/web/", HTTP_HOST="hub.example").content.decode()
    assert 'value="docker pull hub.example/alice/web"' in namespaced


def test_library_repositories_are_also_at_underscore(client, library, make_repository):
    make_repository(library, "busybox", description="tiny tools")

    response = client.get("/_/busybox/")
    assert response.status_code == 200
    assert "tiny tools" in response.content.decode()
    assert client.get("/_/nothing/").status_code == 404


def test_pull_chart_has_thirty_bars(client, public_repo):
    today = timezone.now().date()
    PullDay.objects.create(repository=public_repo, day=today, count=10)
    PullDay.objects.create(repository=public_repo, day=today - timedelta(days=3), count=5)
    PullDay.objects.create(repository=public_repo, day=today - timedelta(days=40), count=99)

    page = client.get("/r/alice/web/").content.decode()
    assert "<svg" in page
    assert page.count('<rect class="bar') == 30
    assert "15 pulls" in page  # only the last 30 days count
    assert f"{today:%b} {today.day}: 10 pulls" in page


# Tags -----------------------------------------------------------------------------


@pytest.fixture
def tagged(public_repo):
    make_tag(
        public_repo,
        "latest",
        platforms=[
            {"os": "linux", "architecture": "amd64"},
            {"os": "linux", "architecture": "arm", "variant": "v7"},
        ],
        layers_size=3 * 1024 * 1024,
    )
    make_tag(public_repo, "old", platforms=[], layers_size=2048, digest_char="b")
    return public_repo


def test_tags_tab_lists_digest_size_and_platforms(client, tagged):
    page = client.get("/r/alice/web/tags/").content.decode()

    assert "latest" in page and "old" in page
    assert "sha256:aaaaaaaaaaaa" in page
    assert "3.0\xa0MB" in page
    assert "2.0\xa0KB" in page
    assert "linux/amd64" in page
    assert "linux/arm/v7" in page
    assert "/tags/latest/delete/" not in page  # anonymous: no delete buttons


def test_only_admins_get_tag_delete_buttons(client_for, alice, bob, tagged):
    services.collaborator_set(repository=tagged, user=bob, permission="write")

    assert "/tags/latest/delete/" in client_for(alice).get("/r/alice/web/tags/").content.decode()
    assert "/tags/latest/delete/" not in client_for(bob).get("/r/alice/web/tags/").content.decode()
    assert client_for(bob).post("/r/alice/web/tags/latest/delete/").status_code == 403
    assert client_for(None).post("/r/alice/web/tags/latest/delete/").status_code == 403
    assert Tag.objects.filter(repository=tagged, name="latest").exists()


def test_admin_deletes_a_tag_with_htmx(client_for, alice, tagged):
    response = client_for(alice).post("/r/alice/web/tags/latest/delete/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response.content == b""
    assert not Tag.objects.filter(repository=tagged, name="latest").exists()
    assert Tag.objects.filter(repository=tagged, name="old").exists()


def test_admin_deletes_a_tag_without_javascript(client_for, alice, tagged):
    response = client_for(alice).post("/r/alice/web/tags/old/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/r/alice/web/tags/"
    assert not Tag.objects.filter(repository=tagged, name="old").exists()


def test_tag_delete_needs_post_and_csrf(alice, tagged):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get("/r/alice/web/tags/latest/delete/").status_code == 405
    assert client.post("/r/alice/web/tags/latest/delete/").status_code == 403
    assert Tag.objects.filter(repository=tagged, name="latest").exists()


def test_tag_delete_on_a_private_repository_is_404_to_others(client_for, bob, private_repo):
    make_tag(private_repo, "v1", platforms=[], layers_size=1)

    assert client_for(bob).post("/r/alice/secret-sauce/tags/v1/delete/").status_code == 404
    assert Tag.objects.filter(repository=private_repo).exists()
