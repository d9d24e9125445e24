"""Who may do what, through the registry: owners, other users, organization
owners, members and teams, collaborators and staff. Every test runs with
bearer tokens (what Docker clients use) and with Basic credentials sent
straight to /v2/."""

import pytest

from accounts import services as account_services
from accounts.models import Membership, Namespace, Team
from repositories import services as repository_services
from repositories.models import Collaborator, Permission, Repository, TeamAccess

from .conftest import claims_of, error_codes

PRIVATE = Repository.Visibility.PRIVATE
PUBLIC = Repository.Visibility.PUBLIC


@pytest.fixture(params=["basic", "bearer"])
def mode(request):
    return request.param


@pytest.fixture
def as_user(caller, mode):
    """``as_user(username)``: that user's registry client, in this test's mode."""
    return lambda username: caller(mode, username)


def assert_hidden(response, mode):
    """The answer for a repository the caller may not know exists."""
    if mode == "basic":
        assert response.status_code == 404, response.content
        if response.content:
            assert error_codes(response) == ["NAME_UNKNOWN"]
    else:
        assert response.status_code == 401, response.content
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def assert_forbidden(response, mode):
    """The answer for an action on a repository the caller can see but not change."""
    if mode == "basic":
        assert response.status_code == 403, response.content
        assert error_codes(response) == ["DENIED"]
    else:
        assert response.status_code == 401, response.content
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


@pytest.fixture
def world(make_user, root, seed):
    """alice owns alice/public and alice/private; bob owns nothing of hers.
    Organization acme (owner olivia, member mike) has the private acme/app,
    on which team readers (rita) may read, writers (will) write and admins
    (adam) administer. On alice/private carol reads, dave writes, erin
    administers."""
    users = {
        name: make_user(name)
        for name in ("alice", "bob", "olivia", "mike", "rita", "will", "adam", "carol", "dave")
    }
    users["erin"] = make_user("erin")
    acme = account_services.organization_create(name="acme", owner=users["olivia"])
    Membership.objects.create(organization=acme, user=users["mike"])
    images = {
        "alice/public": seed("alice/public"),
        "alice/private": seed("alice/private", PRIVATE),
        "acme/app": seed("acme/app", PRIVATE),
    }
    app = Repository.objects.by_full_name("acme/app").get()
    for team_name, member, permission in [
        ("readers", "rita", Permission.READ),
        ("writers", "will", Permission.WRITE),
        ("admins", "adam", Permission.ADMIN),
    ]:
        team = Team.objects.create(organization=acme, name=team_name)
        account_services.team_member_add(team=team, user=users[member])
        TeamAccess.objects.create(team=team, repository=app, permission=permission)
    private = Repository.objects.by_full_name("alice/private").get()
    for member, permission in [
        ("carol", Permission.READ),
        ("dave", Permission.WRITE),
        ("erin", Permission.ADMIN),
    ]:
        Collaborator.objects.create(repository=private, user=users[member], permission=permission)
    return images


def delete_manifest(client, image):
    return client.delete(f"/v2/{image.name}/manifests/{image.digest}")


def can_pull(client, name, reference="latest"):
    response = client.pull(name, reference)
    return response.status_code == 200


# Owners and other users ---------------------------------------------------


@pytest.mark.parametrize("default_visibility", [PUBLIC, PRIVATE])
def test_owner_pushes_into_its_namespace_with_its_default_visibility(
    as_user, caller, make_user, default_visibility
):
    make_user("alice")
    Namespace.objects.filter(name="alice").update(default_visibility=default_visibility)

    pushed = as_user("alice").push_image("alice/new", "v1")

    repository = Repository.objects.by_full_name("alice/new").get()
    assert repository.visibility == default_visibility
    assert repository.tags.get().name == "v1"
    response = as_user("alice").pull("alice/new", "v1")
    assert response.status_code == 200
    assert response["Docker-Content-Digest"] == pushed.digest
    assert can_pull(caller(), "alice/new", "v1") == (default_visibility == PUBLIC)


def test_owner_pulls_pushes_and_deletes_its_private_repository(as_user, world):
    alice = as_user("alice")

    assert can_pull(alice, "alice/private")
    assert alice.try_push("alice/private", "v2", b"new layer").status_code == 201
    assert delete_manifest(alice, world["alice/private"]).status_code == 202


def test_a_user_cannot_push_into_another_users_namespace(as_user, world, mode):
    response = as_user("bob").try_push("alice/bobs-idea")

    assert_hidden(response, mode)
    assert not Repository.objects.by_full_name("alice/bobs-idea").exists()


def test_a_user_cannot_push_to_another_users_public_repository(as_user, world, mode):
    assert_forbidden(as_user("bob").try_push("alice/public", "evil"), mode)
    assert not Repository.objects.by_full_name("alice/public").get().tags.filter(name="evil")


def test_a_user_cannot_delete_from_another_users_public_repository(as_user, world, mode):
    bob = as_user("bob")

    assert_forbidden(delete_manifest(bob, world["alice/public"]), mode)
    layer = world["alice/public"].layer_digest
    assert_forbidden(bob.delete(f"/v2/alice/public/blobs/{layer}"), mode)
    assert can_pull(bob, "alice/public")


def test_a_user_cannot_read_another_users_private_repository(as_user, world, mode):
    bob, image = as_user("bob"), world["alice/private"]

    for response in [
        bob.pull("alice/private"),
        bob.head("/v2/alice/private/manifests/latest"),
        bob.get(f"/v2/alice/private/manifests/{image.digest}"),
        bob.get(f"/v2/alice/private/blobs/{image.layer_digest}"),
        bob.head(f"/v2/alice/private/blobs/{image.config_digest}"),
        bob.get("/v2/alice/private/tags/list"),
        bob.get(f"/v2/alice/private/referrers/{image.digest}"),
        bob.try_push("alice/private", "evil"),
        delete_manifest(bob, image),
    ]:
        assert_hidden(response, mode)
    assert Repository.objects.by_full_name("alice/private").get().manifests.count() == 1


def test_a_blob_of_a_private_repository_cannot_be_mounted_elsewhere(as_user, world, mode):
    bob, layer = as_user("bob"), world["alice/private"].layer_digest

    for query in (f"mount={layer}&from=alice/private", f"mount={layer}"):
        response = bob.post(f"/v2/bob/stolen/blobs/uploads/?{query}")
        assert response.status_code == 202, response.content  # an upload, not a mount
    assert bob.get(f"/v2/bob/stolen/blobs/{layer}").status_code == 404


def test_a_blob_readable_to_the_caller_can_be_mounted(as_user, world):
    carol, layer = as_user("carol"), world["alice/private"].layer_digest

    response = carol.post(f"/v2/carol/copy/blobs/uploads/?mount={layer}&from=alice/private")

    assert response.status_code == 201, response.content
    assert carol.get(f"/v2/carol/copy/blobs/{layer}").status_code == 200


def test_making_a_repository_private_hides_it_at_once(
    caller, make_user, seed, django_capture_on_commit_callbacks
):
    make_user("alice")
    seed("alice/app")
    anonymous, anonymous_bearer = caller(), caller("anonymous-bearer")
    assert anonymous.pull("alice/app").status_code == 200  # the registry has it cached now

    repository = Repository.objects.by_full_name("alice/app").get()
    with django_capture_on_commit_callbacks(execute=True):
        repository_services.repository_update(repository=repository, visibility=PRIVATE)

    assert anonymous.pull("alice/app").status_code == 401
    assert anonymous_bearer.pull("alice/app").status_code == 401
    assert anonymous_bearer.get("/v2/_catalog").json()["repositories"] == []


# The catalog --------------------------------------------------------------


@pytest.mark.parametrize(
    "username, expected",
    [
        ("alice", ["alice/private", "alice/public"]),
        ("bob", ["alice/public"]),
        ("olivia", ["acme/app", "alice/public"]),
        ("mike", ["alice/public"]),
        ("rita", ["acme/app", "alice/public"]),
        ("carol", ["alice/private", "alice/public"]),
        ("root", ["acme/app", "alice/private", "alice/public"]),
    ],
)
def test_the_catalog_lists_only_what_the_caller_may_read(as_user, world, username, expected):
    response = as_user(username).get("/v2/_catalog")

    assert response.status_code == 200
    assert response.json()["repositories"] == expected


def test_the_catalog_with_an_anonymous_token_lists_public_repositories(caller, world):
    response = caller("anonymous-bearer").get("/v2/_catalog")

    assert response.status_code == 200
    assert response.json()["repositories"] == ["alice/public"]


def test_the_catalog_without_credentials_is_challenged(caller, world):
    response = caller().get("/v2/_catalog")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        'Bearer realm="http://testserver/token",service="hub-registry",scope="registry:catalog:*"'
    )


def test_the_catalog_with_a_token_for_something_else_is_challenged(caller, world):
    token = caller("anonymous", "alice").token("repository:alice/private:pull")

    response = caller().get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert 'scope="registry:catalog:*"' in response["WWW-Authenticate"]


# Organizations and teams --------------------------------------------------


def test_organization_owner_pulls_pushes_and_deletes(as_user, world):
    olivia = as_user("olivia")

    assert can_pull(olivia, "acme/app")
    assert olivia.try_push("acme/app", "v2", b"new layer").status_code == 201
    assert olivia.try_push("acme/fresh").status_code == 201
    assert delete_manifest(olivia, world["acme/app"]).status_code == 202


def test_organization_member_without_a_team_cannot_read_private_repositories(as_user, world, mode):
    assert_hidden(as_user("mike").pull("acme/app"), mode)


def test_read_team_can_pull_not_push(as_user, world, mode):
    rita = as_user("rita")

    assert can_pull(rita, "acme/app")
    assert_forbidden(rita.try_push("acme/app", "v2", b"new layer"), mode)
    assert_forbidden(delete_manifest(rita, world["acme/app"]), mode)


def test_write_team_can_push_not_delete(as_user, world, mode):
    will = as_user("will")

    assert can_pull(will, "acme/app")
    assert will.try_push("acme/app", "v2", b"new layer").status_code == 201
    assert_forbidden(delete_manifest(will, world["acme/app"]), mode)


def test_admin_team_can_delete(as_user, world):
    adam = as_user("adam")

    assert adam.try_push("acme/app", "v2", b"new layer").status_code == 201
    assert delete_manifest(adam, world["acme/app"]).status_code == 202


def test_team_access_ends_with_the_team_membership(as_user, world, mode):
    Team.objects.get(name="readers").members.clear()

    assert_hidden(as_user("rita").pull("acme/app"), mode)


def test_organization_members_may_create_repositories_when_allowed(as_user, world, mode):
    acme = Namespace.objects.get(name="acme").organization
    acme.members_can_create_repositories = False
    acme.save()

    assert_hidden(as_user("mike").try_push("acme/mikes"), mode)
    assert not Repository.objects.by_full_name("acme/mikes").exists()


@pytest.mark.parametrize("default_visibility", [PUBLIC, PRIVATE])
def test_a_member_who_may_create_repositories_completes_a_first_push(
    as_user, world, default_visibility
):
    """members_can_create_repositories: a member's push creates the
    repository. The push goes on after its first request has created it
    (the next blob, the manifest), so the member must keep push rights on
    what it created (permissions.can: "who may create it may push to it and
    read what it pushed")."""
    Namespace.objects.filter(name="acme").update(default_visibility=default_visibility)

    response = as_user("mike").try_push("acme/mikes", "v1")

    assert response.status_code == 201, (response.status_code, response.content)


def test_a_member_who_created_a_repository_can_push_to_it_again(caller, world):
    """As `docker push` does it: one token per push, asked for before the
    first request. The first push goes through on a token granted while the
    repository did not exist yet; the member's next push must too."""
    mike = caller("anonymous", "mike")
    scope = "repository:acme/mikes:pull,push"

    first = mike.using(f"Bearer {mike.token(scope)}").try_push("acme/mikes", "v1")
    second_token = mike.token(scope)
    second = mike.using(f"Bearer {second_token}").try_push("acme/mikes", "v2", b"second")

    assert first.status_code == 201
    assert claims_of(second_token)["access"] == [
        {"type": "repository", "name": "acme/mikes", "actions": ["pull", "push"]}
    ]
    assert second.status_code == 201


# Collaborators ------------------------------------------------------------


def test_read_collaborator_can_pull_not_push(as_user, world, mode):
    carol = as_user("carol")

    assert can_pull(carol, "alice/private")
    assert carol.get("/v2/alice/private/tags/list").json()["tags"] == ["latest"]
    assert_forbidden(carol.try_push("alice/private", "v2", b"new layer"), mode)


def test_write_collaborator_can_push_not_delete(as_user, world, mode):
    dave = as_user("dave")

    assert dave.try_push("alice/private", "v2", b"new layer").status_code == 201
    assert_forbidden(delete_manifest(dave, world["alice/private"]), mode)


def test_admin_collaborator_can_delete(as_user, world):
    assert delete_manifest(as_user("erin"), world["alice/private"]).status_code == 202


def test_a_collaborator_cannot_create_repositories_in_the_owners_namespace(as_user, world, mode):
    assert_hidden(as_user("erin").try_push("alice/erins"), mode)


# Staff --------------------------------------------------------------------


def test_staff_can_do_everything(as_user, world):
    root = as_user("root")

    assert can_pull(root, "alice/private")
    assert can_pull(root, "acme/app")
    assert root.try_push("alice/private", "v2", b"new layer").status_code == 201
    assert root.try_push("bob/made-by-staff").status_code == 201
    assert delete_manifest(root, world["acme/app"]).status_code == 202


def test_staff_push_to_a_new_namespace_creates_it(as_user, world):
    assert as_user("root").try_push("library/busybox").status_code == 201

    namespace = Namespace.objects.get(name="library")
    assert namespace.kind == Namespace.Kind.ORGANIZATION
    assert Repository.objects.by_full_name("library/busybox").exists()


def test_pushing_to_a_nonexistent_namespace_is_refused_for_non_staff(as_user, world, mode):
    assert_hidden(as_user("alice").try_push("ghost/app"), mode)

    assert not Namespace.objects.filter(name="ghost").exists()
    assert not Repository.objects.by_full_name("ghost/app").exists()


def test_a_deactivated_staff_user_can_do_nothing(as_user, world, root, caller, mode):
    root.is_active = False
    root.save()

    if mode == "basic":
        assert as_user("root").get("/v2/").status_code == 401
    else:
        assert caller("anonymous", "root").token_response().status_code == 401
