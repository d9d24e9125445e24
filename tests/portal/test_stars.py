"""Starring through /r/<ns>/<name>/star/: htmx gets the button back."""

from repositories.models import Star


def star(client, path="/r/alice/web/star/", action="star", **headers):
    return client.post(path, {"action": action}, **headers)


def test_star_and_unstar_with_htmx_update_the_count(client_for, bob, public_repo):
    client = client_for(bob)

    response = star(client, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'class="star-count"' in fragment
    assert ">1</span>" in fragment
    assert "Starred" in fragment
    assert 'value="unstar"' in fragment
    assert "<html" not in fragment

    response = star(client, action="unstar", HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert ">0</span>" in fragment
    assert 'value="star"' in fragment
    public_repo.refresh_from_db()
    assert public_repo.star_count == 0


def test_starring_is_idempotent(client_for, bob, public_repo):
    client = client_for(bob)
    star(client, HTTP_HX_REQUEST="true")
    star(client, HTTP_HX_REQUEST="true")
    public_repo.refresh_from_db()
    assert public_repo.star_count == 1
    assert Star.objects.filter(repository=public_repo).count() == 1

    star(client, action="unstar", HTTP_HX_REQUEST="true")
    response = star(client, action="unstar", HTTP_HX_REQUEST="true")
    assert ">0</span>" in response.content.decode()
    public_repo.refresh_from_db()
    assert public_repo.star_count == 0


def test_star_without_javascript_redirects_back(client_for, bob, public_repo):
    response = bob_client = client_for(bob)
    response = bob_client.post("/r/alice/web/star/", {"action": "star", "next": "/search/?q=web"})
    assert response.status_code == 302
    assert response["Location"] == "/search/?q=web"

    response = bob_client.post("/r/alice/web/star/", {"action": "star", "next": "https://evil"})
    assert response["Location"] == "/r/alice/web/"


def test_anonymous_users_are_sent_to_log_in(client, public_repo):
    response = star(client)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")

    response = star(client, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith("/accounts/login/?next=/r/alice/web/")
    assert not Star.objects.exists()

    page = client.get("/r/alice/web/").content.decode()
    assert "/accounts/login/?next=" in page


def test_star_needs_post_and_a_readable_repository(client_for, bob, private_repo):
    client = client_for(bob)
    assert client.get("/r/alice/secret-sauce/star/").status_code == 405
    assert star(client, "/r/alice/secret-sauce/star/").status_code == 404
    assert not Star.objects.exists()


def test_the_page_shows_the_viewers_star(client_for, bob, public_repo):
    client = client_for(bob)
    assert 'aria-pressed="false"' in client.get("/r/alice/web/").content.decode()
    star(client)
    assert 'aria-pressed="true"' in client.get("/r/alice/web/").content.decode()


def test_user_page_lists_visible_starred_repositories(
    client_for, alice, bob, public_repo, private_repo
):
    from repositories import services

    services.star_add(user=alice, repository=public_repo)
    services.star_add(user=alice, repository=private_repo)

    page = client_for(bob).get("/u/alice/").content.decode()
    assert "Starred repositories" in page
    starred = page[page.index("Starred repositories") :]
    assert 'href="/r/alice/web/"' in starred
    assert "secret-sauce" not in starred

    own = client_for(alice).get("/u/alice/").content.decode()
    assert "alice/secret-sauce" in own[own.index("Starred repositories") :]
