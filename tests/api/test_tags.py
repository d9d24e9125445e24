"""Tags with what the pages show of them, and deleting them."""

from datetime import timedelta

from django.utils import timezone

from repositories.models import Permission, Tag

from .helpers import collaborate, push_image, repo_path, session_client


def test_tag_list_shows_digest_size_platforms_and_push_time(alice, public_repo, client):
    manifest = push_image(
        public_repo, "v1", layers=[b"a" * 100, b"b" * 23], architecture="arm64", pusher=alice
    )
    response = client.get(repo_path(public_repo, "tags/"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (tag,) = body["results"]
    assert tag["name"] == "v1"
    assert tag["digest"] == manifest.digest
    assert tag["digest"].startswith("sha256:")
    assert tag["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert tag["compressed_size"] == 123
    assert tag["platforms"] == [{"os": "linux", "architecture": "arm64"}]
    assert tag["pushed_by"] == "alice"
    pushed_at = Tag.objects.get(repository=public_repo, name="v1").pushed_at
    assert tag["pushed_at"].replace("Z", "+00:00") == pushed_at.isoformat()


def test_tags_are_listed_latest_push_first_and_paginated(public_repo, client):
    for number, name in enumerate(["old", "middle", "new"]):
        push_image(public_repo, name, layers=[name.encode()])
        Tag.objects.filter(name=name).update(pushed_at=timezone.now() + timedelta(minutes=number))
    first = client.get(repo_path(public_repo, "tags/"), {"page_size": 2}).json()
    assert [tag["name"] for tag in first["results"]] == ["new", "middle"]
    assert [tag["name"] for tag in client.get(first["next"]).json()["results"]] == ["old"]


def test_one_tag(public_repo, client):
    push_image(public_repo, "latest")
    assert client.get(repo_path(public_repo, "tags/latest/")).json()["name"] == "latest"
    assert client.get(repo_path(public_repo, "tags/missing/")).status_code == 404


def test_admin_deletes_a_tag(alice, public_repo):
    push_image(public_repo, "latest")
    push_image(public_repo, "keep", layers=[b"other"])
    client = session_client(alice)
    assert client.delete(repo_path(public_repo, "tags/latest/")).status_code == 204
    assert list(public_repo.tags.values_list("name", flat=True)) == ["keep"]
    assert client.delete(repo_path(public_repo, "tags/latest/")).status_code == 404


def test_pusher_without_delete_permission_cannot_delete_a_tag(bob, public_repo):
    push_image(public_repo, "latest")
    collaborate(public_repo, bob, Permission.WRITE)
    assert session_client(bob).delete(repo_path(public_repo, "tags/latest/")).status_code == 403
    assert public_repo.tags.filter(name="latest").exists()


def test_anonymous_cannot_delete_a_tag(client, public_repo):
    push_image(public_repo, "latest")
    assert client.delete(repo_path(public_repo, "tags/latest/")).status_code == 401
    assert public_repo.tags.filter(name="latest").exists()
