"""Immutable-tag rules through the API, and the tags they protect."""

from accounts import services as account_services
from accounts.models import AccessToken, Membership
from repositories import immutability
from repositories.models import ImmutableTagRule, Permission

from .helpers import as_json, bearer_client, collaborate, push_image, repo_path, session_client

RULES = "immutable-tag-rules/"


def test_admin_adds_lists_and_deletes_repository_rules(alice, public_repo):
    client = session_client(alice)

    created = as_json(client, "post", repo_path(public_repo, RULES), {"pattern": "v*"})
    assert created.status_code == 201, created.content
    assert created.json()["pattern"] == "v*"
    assert created.json()["created_by"] == "alice"
    listed = client.get(repo_path(public_repo, RULES)).json()
    assert [rule["pattern"] for rule in listed] == ["v*"]

    rule_path = repo_path(public_repo, f"{RULES}{created.json()['id']}/")
    assert client.get(rule_path).json()["pattern"] == "v*"
    assert client.delete(rule_path).status_code == 204
    assert not ImmutableTagRule.objects.exists()
    assert client.delete(rule_path).status_code == 404


def test_an_invalid_regular_expression_is_a_clear_error(alice, public_repo):
    response = as_json(
        session_client(alice), "post", repo_path(public_repo, RULES), {"pattern": "/v(1/"}
    )

    assert response.status_code == 400
    (message,) = response.json()["pattern"]
    assert message.startswith("/v(1/ is not a valid regular expression: missing )")


def test_a_rule_that_is_there_already_is_refused(alice, public_repo):
    client = session_client(alice)
    as_json(client, "post", repo_path(public_repo, RULES), {"pattern": "v*"})

    response = as_json(client, "post", repo_path(public_repo, RULES), {"pattern": "v*"})

    assert response.status_code == 400
    assert response.json() == {"pattern": ["The rule 'v*' is there already."]}


def test_writers_and_narrow_tokens_may_not_touch_the_rules(alice, bob, public_repo):
    collaborate(public_repo, bob, Permission.WRITE)
    for client in (session_client(bob), bearer_client(alice, AccessToken.Scope.WRITE)):
        assert client.get(repo_path(public_repo, RULES)).status_code == 403
        response = as_json(client, "post", repo_path(public_repo, RULES), {"pattern": "v*"})
        assert response.status_code == 403
    assert not ImmutableTagRule.objects.exists()


def test_rules_of_a_private_repository_are_hidden_from_strangers(carol, private_repo):
    assert session_client(carol).get(repo_path(private_repo, RULES)).status_code == 404


def test_deleting_an_immutable_tag_is_refused(alice, public_repo):
    push_image(public_repo, "v1.0")
    push_image(public_repo, "latest", layers=[b"newer"])
    immutability.rule_create(repository=public_repo, pattern="v*")
    client = session_client(alice)

    response = client.delete(repo_path(public_repo, "tags/v1.0/"))

    assert response.status_code == 403
    assert response.json() == {
        "detail": "tag v1.0 is immutable in alice/web (rule 'v*'); it cannot be deleted"
    }
    assert public_repo.tags.filter(name="v1.0").exists()
    assert client.delete(repo_path(public_repo, "tags/latest/")).status_code == 204


def test_a_user_manages_the_rules_of_their_namespace(alice, bob, public_repo):
    path = "/api/v1/users/alice/immutable-tag-rules/"
    created = as_json(session_client(alice), "post", path, {"pattern": r"/^\d+$/"})
    assert created.status_code == 201, created.content

    assert session_client(bob).get(path).status_code == 403
    assert as_json(session_client(bob), "post", path, {"pattern": "x"}).status_code == 403
    push_image(public_repo, "42")
    assert immutability.tag_is_immutable(public_repo, "42")
    assert session_client(alice).delete(repo_path(public_repo, "tags/42/")).status_code == 403

    rule_path = f"{path}{created.json()['id']}/"
    assert session_client(bob).delete(rule_path).status_code == 403
    assert session_client(alice).delete(rule_path).status_code == 204


def test_organization_owners_manage_its_rules_and_members_may_not(alice, bob):
    organization = account_services.organization_create(name="acme", owner=alice)
    account_services.membership_set(
        organization=organization, user=bob, role=Membership.Role.MEMBER
    )
    path = "/api/v1/orgs/acme/immutable-tag-rules/"

    assert as_json(session_client(bob), "post", path, {"pattern": "v*"}).status_code == 403
    response = as_json(session_client(alice), "post", path, {"pattern": "v*"})
    assert response.status_code == 201
    assert ImmutableTagRule.objects.get().namespace == organization.namespace
    assert session_client(alice).get("/api/v1/orgs/nobody/immutable-tag-rules/").status_code == 404
    # A user's route does not reach an organization, nor the other way round.
    assert session_client(alice).get("/api/v1/users/acme/immutable-tag-rules/").status_code == 404


def test_tags_say_whether_they_are_immutable(alice, public_repo):
    push_image(public_repo, "v1.0")
    push_image(public_repo, "latest", layers=[b"newer"])
    immutability.rule_create(repository=public_repo, pattern="v*")
    client = session_client(alice)

    listed = client.get(repo_path(public_repo, "tags/")).json()
    tags = listed["results"] if isinstance(listed, dict) else listed
    assert {tag["name"]: tag["immutable"] for tag in tags} == {"v1.0": True, "latest": False}
    assert client.get(repo_path(public_repo, "tags/v1.0/")).json()["immutable"] is True
    assert client.get(repo_path(public_repo, "tags/latest/")).json()["immutable"] is False
