"""The "Immutable tags" section of a repository's settings, and the tags tab."""

from accounts import services as account_services
from repositories import immutability
from repositories.models import ImmutableTagRule

from .conftest import make_tag

SETTINGS = "/r/alice/web/settings/"
ADD = "/r/alice/web/settings/immutable-tags/"


def test_settings_page_adds_a_rule(client_for, alice, public_repo):
    client = client_for(alice)
    assert 'id="immutable-tags"' in client.get(SETTINGS).content.decode()

    response = client.post(ADD, {"pattern": "release-*"})

    assert response.status_code == 302
    assert response["Location"] == SETTINGS
    rule = ImmutableTagRule.objects.get()
    assert (rule.repository, rule.pattern, rule.created_by) == (public_repo, "release-*", alice)
    assert "<code>release-*</code>" in client.get(SETTINGS).content.decode()


def test_htmx_gets_the_section_back_with_the_error(client_for, alice, public_repo):
    response = client_for(alice).post(ADD, {"pattern": "/[v/"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = response.content.decode()
    assert page.startswith('<section class="card" id="immutable-tags"')
    assert "/[v/ is not a valid regular expression" in page
    assert not ImmutableTagRule.objects.exists()


def test_removing_a_rule(client_for, alice, public_repo):
    rule = immutability.rule_create(repository=public_repo, pattern="v*")

    response = client_for(alice).post(f"{ADD}{rule.pk}/delete/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "has no rules of its own" in response.content.decode()
    assert not ImmutableTagRule.objects.exists()


def test_only_admins_manage_the_rules(client_for, bob, public_repo):
    rule = immutability.rule_create(repository=public_repo, pattern="v*")

    assert client_for(bob).post(ADD, {"pattern": "x"}).status_code == 403
    assert client_for(bob).post(f"{ADD}{rule.pk}/delete/").status_code == 403
    assert client_for(None).post(ADD, {"pattern": "x"}).status_code == 302  # to log in
    assert list(ImmutableTagRule.objects.values_list("pattern", flat=True)) == ["v*"]


def test_namespace_rules_are_shown_read_only(client_for, alice, public_repo):
    immutability.rule_create(namespace=alice.namespace, pattern="stable")

    page = client_for(alice).get(SETTINGS).content.decode()

    assert "Rules of alice" in page
    assert "<code>stable</code>" in page
    assert "/settings/immutable-tags/" in page  # the add form, not a remove button for it
    assert page.count("Remove<span") == 0


def test_rules_of_another_organization_stay_out(client_for, alice, bob, public_repo):
    organization = account_services.organization_create(name="acme", owner=bob)
    immutability.rule_create(namespace=organization.namespace, pattern="stable")

    assert "<code>stable</code>" not in client_for(alice).get(SETTINGS).content.decode()


def test_tags_tab_marks_immutable_tags_and_offers_no_delete(client_for, alice, public_repo):
    make_tag(public_repo, "v1.0", platforms=[], layers_size=1)
    make_tag(public_repo, "latest", platforms=[], layers_size=1, digest_char="b")
    immutability.rule_create(repository=public_repo, pattern=r"/^v\d/")
    client = client_for(alice)

    page = client.get("/r/alice/web/tags/").content.decode()

    assert page.count(">Immutable</span>") == 1
    assert "/tags/v1.0/delete/" not in page
    assert "/tags/latest/delete/" in page
    refused = client.post("/r/alice/web/tags/v1.0/delete/", HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert refused.content.decode() == (
        r"tag v1.0 is immutable in alice/web (rule '/^v\d/'); it cannot be deleted"
    )
    assert public_repo.tags.filter(name="v1.0").exists()
