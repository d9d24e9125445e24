"""Starring is idempotent and keeps the counter right; a user's stars are
listed as far as the caller may see the repositories."""

from accounts.models import AccessToken

from .helpers import bearer_client, repo_path, session_client


def test_star_twice_counts_once(alice, bob, public_repo):
    client = session_client(bob)
    for _ in range(2):
        response = client.put(repo_path(public_repo, "star/"))
        assert response.status_code == 200
        assert response.json() == {"starred": True, "star_count": 1}
    public_repo.refresh_from_db()
    assert public_repo.star_count == 1

    session_client(alice).put(repo_path(public_repo, "star/"))
    assert client.get(repo_path(public_repo, "star/")).json() == {"starred": True, "star_count": 2}
    assert client.get(repo_path(public_repo)).json()["star_count"] == 2


def test_unstar_twice_counts_once(bob, public_repo):
    client = session_client(bob)
    client.put(repo_path(public_repo, "star/"))
    for _ in range(2):
        response = client.delete(repo_path(public_repo, "star/"))
        assert response.status_code == 200
        assert response.json() == {"starred": False, "star_count": 0}
    public_repo.refresh_from_db()
    assert public_repo.star_count == 0


def test_anonymous_sees_the_count_but_cannot_star(client, bob, public_repo):
    session_client(bob).put(repo_path(public_repo, "star/"))
    assert client.get(repo_path(public_repo, "star/")).json() == {"starred": False, "star_count": 1}
    assert client.put(repo_path(public_repo, "star/")).status_code == 401


def test_cannot_star_what_one_cannot_see(carol, private_repo):
    assert session_client(carol).put(repo_path(private_repo, "star/")).status_code == 404
    private_repo.refresh_from_db()
    assert private_repo.star_count == 0


def test_write_token_stars(bob, public_repo):
    response = bearer_client(bob, AccessToken.Scope.WRITE).put(repo_path(public_repo, "star/"))
    assert response.status_code == 200
    assert response.json()["starred"] is True


def test_starred_list_hides_what_the_viewer_cannot_see(bob, carol, public_repo, private_repo):
    client = session_client(bob)
    client.put(repo_path(public_repo, "star/"))
    client.put(repo_path(private_repo, "star/"))

    def starred(viewer):
        response = viewer.get("/api/v1/users/bob/starred/")
        assert response.status_code == 200
        return [repo["full_name"] for repo in response.json()["results"]]

    assert starred(client) == ["alice/secret", "alice/web"]  # latest star first
    assert starred(session_client(carol)) == ["alice/web"]


def test_starred_list_of_unknown_user_is_404(client):
    assert client.get("/api/v1/users/nobody/starred/").status_code == 404
