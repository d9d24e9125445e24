"""The explore page at / and search at /search/."""

import pytest

from repositories.models import Repository
from repositories.search import search_index_refresh


@pytest.fixture
def catalogue(alice, bob, library, make_repository):
    official = make_repository(library, "redis", description="in-memory store", is_official=True)
    starred = make_repository(alice.namespace, "starry", description="much loved")
    pulled = make_repository(alice.namespace, "pully", description="much pulled")
    hidden = make_repository(bob.namespace, "hidden", visibility="private", description="x")
    Repository.objects.filter(pk=starred.pk).update(star_count=50)
    Repository.objects.filter(pk=pulled.pk).update(pull_count=9000)
    Repository.objects.filter(pk=hidden.pk).update(star_count=99, pull_count=99999)
    search_index_refresh(repository_ids=[starred.pk, pulled.pk, hidden.pk])
    return official, starred, pulled, hidden


def section(page, heading):
    start = page.index(heading)
    return page[start : page.index("</section>", start)]


def test_home_lists_official_starred_pulled_and_recent(client, catalogue):
    page = client.get("/").content.decode()

    assert "library/redis" in section(page, "Official images")
    assert "alice/starry" in section(page, "Most starred")
    assert "alice/pully" in section(page, "Most pulled")
    recent = section(page, "Recently updated")
    assert "alice/pully" in recent and "library/redis" in recent
    assert 'href="/r/alice/starry/"' in page
    assert "docker login" in page
    assert "bob/hidden" not in page


def test_home_shows_private_repositories_to_their_owner_only(client_for, alice, bob, catalogue):
    assert "bob/hidden" in client_for(bob).get("/").content.decode()
    assert "bob/hidden" not in client_for(alice).get("/").content.decode()


def test_search_highlights_matches(client, catalogue):
    response = client.get("/search/", {"q": "redis"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "<mark>redis</mark>" in page
    assert 'href="/r/library/redis/"' in page
    assert "alice/starry" not in page


def test_search_escapes_descriptions(client, alice, make_repository):
    make_repository(alice.namespace, "xss", description="<b>bold</b> xss")

    page = client.get("/search/", {"q": "xss"}).content.decode()
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;" in page


def test_search_filters_official(client, catalogue):
    page = client.get("/search/", {"official": "1"}).content.decode()

    assert "library/redis" in page
    assert "alice/starry" not in page
    assert 'name="official" value="1" checked' in page


def test_search_sorts(client, catalogue):
    by_stars = client.get("/search/", {"sort": "stars"}).content.decode()
    assert by_stars.index("alice/starry") < by_stars.index("alice/pully")
    by_pulls = client.get("/search/", {"sort": "pulls"}).content.decode()
    assert by_pulls.index("alice/pully") < by_pulls.index("alice/starry")
    assert '<option value="pulls" selected>' in by_pulls
    # An unknown sort is the best match, not an error.
    assert client.get("/search/", {"sort": "nonsense"}).status_code == 200


def test_search_paginates(client, alice, make_repository):
    for number in range(45):
        make_repository(alice.namespace, f"repo{number:02d}", description="paged")

    first = client.get("/search/", {"q": "paged"}).content.decode()
    assert "45 repositories" in first
    assert "page 1 of 3" in first
    assert 'href="?q=paged&amp;page=2"' in first
    assert first.count('class="repo-name"') == 20

    third = client.get("/search/", {"q": "paged", "page": "3"}).content.decode()
    assert third.count('class="repo-name"') == 5
    assert 'rel="prev"' in third and 'rel="next"' not in third
    assert client.get("/search/", {"q": "paged", "page": "x"}).status_code == 200


def test_search_suggests_a_correction(client, catalogue):
    page = client.get("/search/", {"q": "rediss"}).content.decode()

    assert "Showing results for" in page
    assert 'href="?q=redis"' in page
    assert "library/redis" in page


def test_search_without_results_helps(client, catalogue):
    page = client.get("/search/", {"q": "zzzqqqxx"}).content.decode()

    assert "No repositories match" in page
    assert "Check the spelling" in page


def test_search_never_shows_private_repositories_of_others(client_for, alice, bob, catalogue):
    assert "bob/" not in client_for(alice).get("/search/", {"q": "hidden"}).content.decode()
    assert "bob/" not in client_for(None).get("/search/").content.decode()
    assert (
        "bob/<mark>hidden</mark>"
        in client_for(bob).get("/search/", {"q": "hidden"}).content.decode()
    )


def test_search_results_have_star_buttons(client_for, bob, catalogue):
    page = client_for(bob).get("/search/", {"q": "starry"}).content.decode()

    assert 'hx-post="/r/alice/starry/star/"' in page
