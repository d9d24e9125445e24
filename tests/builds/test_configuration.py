"""The Configure page and the services behind it: picking a source (a
linked GitHub repository, listed by a fake GitHub speaking its REST API, or
a git URL), the webhook installed and removed there, rules, write-only
variables, the trigger URL shown once, the Trigger button, and repository
links."""

import re

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from accounts import social
from builds import rules, services
from builds.models import Build, BuildLink, BuildRule, BuildSettings, BuildVariable
from builds.sources.base import token_hash
from repositories import services as repository_services
from repositories.models import Repository
from tests.accounts_social.fake_providers import FakeGitHub, json_response

pytestmark = pytest.mark.django_db

HUB_URL = "https://hub.example.com"
BASE = "/r/ada/widget/builds"
CONFIGURE = f"{BASE}/configure/"


def client_for(user=None, **kwargs):
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def hub_url(settings):
    settings.HUB_URL = HUB_URL


@pytest.fixture
def github(settings):
    fake = FakeGitHub(client_id="gh-client", client_secret="gh-secret").start()
    fake.add_user("octocat", email="octocat@example.com")
    fake.add_repository("octocat/hello-world", default_branch="trunk")
    fake.add_repository("octo-org/private-thing", private=True)
    settings.HUB_GITHUB_URL = fake.url
    settings.HUB_GITHUB_API_URL = fake.api_url
    yield fake
    fake.stop()


@pytest.fixture
def linked_owner(owner, github):
    """The owner with a GitHub account linked, its token stored as Hub stores one."""
    access_token, _refresh = github.issue_tokens("octocat")
    profile = github.users["octocat"]
    account = SocialAccount.objects.create(
        user=owner, provider="github", uid=str(profile["id"]), extra_data=profile
    )
    social.linked_token_seal(SocialToken(account=account, token=access_token)).save()
    return owner


@pytest.fixture
def reader(django_user_model, repository):
    user = django_user_model.objects.create_user("rita", "rita@example.com", "secret")
    repository_services.collaborator_set(repository=repository, user=user, permission="read")
    return user


@pytest.fixture
def git_settings(repository, owner, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    return services.build_settings_save(
        repository=repository,
        user=owner,
        provider="git",
        source="https://127.0.0.1/team/widget.git",
    ).settings


def configured_from_github(client):
    return client.post(
        CONFIGURE, {"provider": "github", "github-repository": "octocat/hello-world"}
    )


def trigger_url_in(page):
    """The trigger URL a page shows in full, with its token, or None."""
    match = re.search(rf"{re.escape(HUB_URL)}/builds/hooks/[0-9a-f-]+/generic/([\w-]+)", page)
    return match and match.group(0)


# Permissions ----------------------------------------------------------------------------------


def test_configure_page_is_for_admins(repository, owner, reader):
    anonymous = client_for().get(CONFIGURE)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("account_login"))
    assert client_for(reader).get(CONFIGURE).status_code == 403
    assert client_for(owner).get(CONFIGURE).status_code == 200


ADMIN_POSTS = [
    ("configure/", {"provider": "git", "git-url": "https://127.0.0.1/x.git"}),
    ("configure/delete/", {}),
    ("configure/trigger-token/", {}),
    ("configure/rules/", {"new-rule-source_type": "branch", "new-rule-source": "dev"}),
    ("configure/rules/{rule}/", {}),
    ("configure/rules/{rule}/delete/", {}),
    ("configure/rules/{rule}/trigger/", {}),
    ("configure/variables/", {"variable-name": "TOKEN", "variable-value": "x"}),
    ("configure/variables/delete/", {"name": "TOKEN"}),
    ("configure/links/", {"link-repository": "ada/widget"}),
    ("configure/links/{link}/delete/", {}),
]


@pytest.mark.parametrize(("suffix", "data"), ADMIN_POSTS)
def test_configuration_changes_are_403_to_readers_and_404_to_others(
    git_settings, repository, owner, reader, make_user, suffix, data
):
    services.build_variable_set(settings=git_settings, name="TOKEN", value="kept")
    other = repository_services.repository_create(
        namespace=owner.namespace, name="base", creator=owner
    )
    link = services.build_link_add(settings=git_settings, upstream=other, user=owner)
    url = f"{BASE}/" + suffix.format(rule=git_settings.rules.get().pk, link=link.pk)

    assert client_for(reader).post(url, data).status_code == 403
    repository_services.repository_update(repository=repository, visibility="private")
    assert client_for(make_user("sam")).post(url, data).status_code == 404
    assert client_for().post(url, data).status_code == 404

    # Nothing changed.
    build_settings = BuildSettings.objects.get()
    assert build_settings.trigger_token_hash == git_settings.trigger_token_hash
    assert list(build_settings.rules.values_list("source", flat=True)) == ["main"]
    assert BuildVariable.objects.get().value == "kept"
    assert BuildLink.objects.count() == 1
    assert not Build.objects.exists()


def test_configuration_needs_the_csrf_token(git_settings, owner):
    client = client_for(owner, enforce_csrf_checks=True)
    response = client.post(f"{CONFIGURE}trigger-token/")
    assert response.status_code == 403
    assert BuildSettings.objects.get().trigger_token_hash == git_settings.trigger_token_hash


# Choosing a source ---------------------------------------------------------------------------


def test_linked_github_repositories_are_offered(linked_owner, github, repository):
    page = client_for(linked_owner).get(CONFIGURE).content.decode()

    assert '<option value="octocat/hello-world">octocat/hello-world</option>' in page
    assert "octo-org/private-thing (private)" in page
    # No Bitbucket account is linked: the way to connect one is shown.
    assert "No Bitbucket account is linked to yours." in page
    assert f'href="{reverse("socialaccount_connections")}"' in page
    assert github.received("GET", "/api/v3/user/repos")


def test_without_linked_accounts_the_page_says_how_to_link_one(owner, repository):
    page = client_for(owner).get(CONFIGURE).content.decode()
    assert "No GitHub account is linked to yours." in page
    assert "No Bitbucket account is linked to yours." in page
    assert "Connect a GitHub account" in page
    assert 'name="git-url"' in page  # a git URL needs no account


def test_a_failing_provider_api_is_reported(linked_owner, github, repository):
    github.expire_access_tokens()
    page = client_for(linked_owner).get(CONFIGURE).content.decode()
    assert "GitHub did not list your repositories: GitHub answered 401" in page
    assert "Bad credentials" in page


def test_saving_a_github_source_installs_the_webhook_and_sets_the_automated_flag(
    linked_owner, github, repository
):
    response = configured_from_github(client_for(linked_owner))

    assert response.status_code == 200
    build_settings = BuildSettings.objects.get()
    assert (build_settings.provider, build_settings.source) == ("github", "octocat/hello-world")
    assert build_settings.created_by == linked_owner
    assert build_settings.linked_user == linked_owner
    # The webhook, as GitHub received it: Hub's public URL and the per-repository secret.
    (request,) = github.received("POST", "/api/v3/repos/octocat/hello-world/hooks")
    hook_url = f"{HUB_URL}/builds/hooks/{build_settings.hook_id}/github"
    assert request.json["config"]["url"] == hook_url
    assert request.json["config"]["secret"] == build_settings.webhook_secret
    assert request.json["config"]["content_type"] == "json"
    assert request.json["events"] == ["push"]
    (hook_id,) = github.hooks["octocat/hello-world"]
    assert build_settings.provider_webhook_id == hook_id
    repository.refresh_from_db()
    assert repository.is_automated
    # The default rule builds GitHub's default branch as latest.
    (rule,) = build_settings.rules.all()
    assert (rule.source_type, rule.source, rule.docker_tag) == ("branch", "trunk", "latest")
    page = response.content.decode()
    assert hook_url in page
    assert "are configured from octocat/hello-world" in page


def test_a_webhook_the_provider_refuses_leaves_nothing(linked_owner, github, repository):
    github.create_hook = lambda request, owner, name: json_response(
        422, {"message": "Validation Failed", "errors": [{"message": "Hook already exists"}]}
    )

    response = configured_from_github(client_for(linked_owner))

    page = response.content.decode()
    assert "GitHub did not install the webhook for octocat/hello-world" in page
    assert "GitHub answered 422" in page and "Nothing was saved." in page
    assert not BuildSettings.objects.exists()
    assert not BuildRule.objects.exists()
    repository.refresh_from_db()
    assert not repository.is_automated


def test_a_repository_the_account_cannot_see_is_refused(linked_owner, github, repository):
    response = client_for(linked_owner).post(
        CONFIGURE, {"provider": "github", "github-repository": "someone/else"}
    )
    assert "Select a valid choice" in response.content.decode()
    assert not BuildSettings.objects.exists()
    assert not github.received("POST", "/api/v3/repos/someone/else/hooks")


def test_removing_the_configuration_removes_the_webhook_and_the_flag(
    linked_owner, github, repository
):
    client = client_for(linked_owner)
    configured_from_github(client)
    (hook_id,) = github.hooks["octocat/hello-world"]

    response = client.post(f"{CONFIGURE}delete/", follow=True)

    assert response.redirect_chain[-1][0] == f"{BASE}/"
    assert github.received("DELETE", f"/api/v3/repos/octocat/hello-world/hooks/{hook_id}")
    assert github.hooks["octocat/hello-world"] == {}
    assert not BuildSettings.objects.exists()
    repository.refresh_from_db()
    assert not repository.is_automated
    page = response.content.decode()
    assert "Automated builds of ada/widget are removed." in page
    assert "Configure automated builds" in page


def test_removing_goes_on_when_the_provider_fails_and_says_so(linked_owner, github, repository):
    client = client_for(linked_owner)
    configured_from_github(client)
    github.expire_access_tokens()

    response = client.post(f"{CONFIGURE}delete/", follow=True)

    assert not BuildSettings.objects.exists()
    repository.refresh_from_db()
    assert not repository.is_automated
    page = response.content.decode()
    assert "The webhook on GitHub could not be removed" in page
    assert "Remove it from octocat/hello-world" in page
    assert github.hooks["octocat/hello-world"]  # still there, for the user to remove


def test_an_ssh_git_url_gets_a_deploy_key_to_add(owner, repository, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]

    response = client_for(owner).post(
        CONFIGURE,
        {
            "provider": "git",
            "git-url": "git@127.0.0.1:team/widget.git",
            "git-default_branch": "dev",
        },
    )

    build_settings = BuildSettings.objects.get()
    assert (build_settings.provider, build_settings.default_branch) == ("git", "dev")
    assert build_settings.provider_webhook_id == ""
    repository.refresh_from_db()
    assert repository.is_automated
    page = response.content.decode()
    assert build_settings.deploy_key_public.startswith("ssh-ed25519 ")
    assert f'value="{build_settings.deploy_key_public}"' in page
    assert "read-only deploy key" in page
    assert "PRIVATE KEY" not in page
    # No webhook for a git URL: the trigger URL is how pushes arrive.
    assert "pushes reach Hub through the" in page
    assert "/github" not in page


def test_a_git_url_hub_may_not_reach_is_refused(owner, repository, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    response = client_for(owner).post(
        CONFIGURE, {"provider": "git", "git-url": "https://127.0.0.1/team/widget.git"}
    )
    assert "not a public address" in response.content.decode()
    assert not BuildSettings.objects.exists()


# The trigger URL ------------------------------------------------------------------------------


def test_the_trigger_url_is_shown_once_and_regenerated(owner, repository, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    client = client_for(owner)

    created = client.post(
        CONFIGURE, {"provider": "git", "git-url": "https://127.0.0.1/team/widget.git"}
    ).content.decode()

    first_url = trigger_url_in(created)
    build_settings = BuildSettings.objects.get()
    assert first_url.startswith(f"{HUB_URL}/builds/hooks/{build_settings.hook_id}/generic/")
    token = first_url.rsplit("/", 1)[1]
    assert token_hash(token) == build_settings.trigger_token_hash
    assert f"curl -X POST {first_url}" in created
    assert "only time the trigger URL is shown" in created

    later = client.get(CONFIGURE).content.decode()
    assert token not in later and trigger_url_in(later) is None
    assert f"{HUB_URL}/builds/hooks/{build_settings.hook_id}/generic/&lt;token&gt;" in later

    regenerated = client.post(f"{CONFIGURE}trigger-token/").content.decode()
    second_url = trigger_url_in(regenerated)
    assert second_url and second_url != first_url
    assert f"curl -X POST {second_url}" in regenerated
    assert token not in regenerated

    # Only the new one starts a build.
    old_path, new_path = (url.removeprefix(HUB_URL) for url in (first_url, second_url))
    assert client_for().post(old_path).status_code == 403
    assert client_for().post(new_path).status_code == 202
    assert Build.objects.get().trigger == Build.Trigger.TRIGGER_URL


# Rules ---------------------------------------------------------------------------------------


def rule_data(prefix, **fields):
    data = {
        "source_type": "branch",
        "source": "main",
        "docker_tag": "latest",
        "dockerfile": "Dockerfile",
        "context": "/",
        "autobuild": "on",
        "cache": "on",
        **fields,
    }
    return {f"{prefix}-{name}": value for name, value in data.items() if value is not None}


def refusal(source_type, source, docker_tag):
    with pytest.raises(rules.RuleInvalid) as refused:
        rules.validate_rule(source_type, source, docker_tag)
    return escape(str(refused.value))


def test_add_a_rule(git_settings, owner):
    response = client_for(owner).post(
        f"{CONFIGURE}rules/",
        rule_data(
            "new-rule",
            source_type="tag",
            source=r"/^v([0-9.]+)$/",
            docker_tag=r"{\1},stable",
            dockerfile="docker/Dockerfile",
            context="docker",
            cache=None,
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == f"{CONFIGURE}#rules"
    rule = git_settings.rules.get(source_type="tag")
    assert (rule.source, rule.docker_tag) == (r"/^v([0-9.]+)$/", r"{\1},stable")
    assert (rule.dockerfile, rule.context, rule.autobuild, rule.cache) == (
        "docker/Dockerfile",
        "docker",
        True,
        False,
    )
    assert rule.position == 1


@pytest.mark.parametrize(
    ("source_type", "source", "docker_tag"),
    [
        ("branch", "main", "bad tag!"),
        ("branch", "feature/login", "{sourceref}"),
        ("tag", "/^v(.*)$/", r"{\2}"),
        ("tag", "/^v(.*)$/", r"-{\1}"),
        ("branch", "main", r"{\1}"),
    ],
)
def test_a_rule_producing_a_tag_the_registry_refuses_is_reported(
    git_settings, owner, source_type, source, docker_tag
):
    response = client_for(owner).post(
        f"{CONFIGURE}rules/",
        rule_data("new-rule", source_type=source_type, source=source, docker_tag=docker_tag),
    )

    assert response.status_code == 200
    assert refusal(source_type, source, docker_tag) in response.content.decode()
    assert git_settings.rules.count() == 1


def test_edit_a_rule_and_a_refused_edit_changes_nothing(git_settings, owner):
    rule = git_settings.rules.get()
    client = client_for(owner)

    refused = client.post(
        f"{CONFIGURE}rules/{rule.pk}/", rule_data(f"rule-{rule.pk}", docker_tag="no good")
    )
    assert refusal("branch", "main", "no good") in refused.content.decode()
    # What was typed stays in the form, to be corrected.
    assert 'value="no good"' in refused.content.decode()
    rule.refresh_from_db()
    assert rule.docker_tag == "latest"

    client.post(
        f"{CONFIGURE}rules/{rule.pk}/",
        rule_data(f"rule-{rule.pk}", source="develop", docker_tag="edge", autobuild=None),
    )
    rule.refresh_from_db()
    assert (rule.source, rule.docker_tag, rule.autobuild) == ("develop", "edge", False)


def test_a_path_leaving_the_repository_is_refused(git_settings, owner):
    response = client_for(owner).post(
        f"{CONFIGURE}rules/", rule_data("new-rule", dockerfile="../../etc/Dockerfile")
    )
    assert "leaves the repository" in response.content.decode()
    assert git_settings.rules.count() == 1


def test_delete_a_rule(git_settings, owner):
    rule = git_settings.rules.get()
    client_for(owner).post(f"{CONFIGURE}rules/{rule.pk}/delete/")
    assert not git_settings.rules.exists()


def test_trigger_button_queues_a_build_of_the_rule(git_settings, owner):
    rule = git_settings.rules.get()
    page = client_for(owner).get(CONFIGURE).content.decode()
    assert f'formaction="{CONFIGURE}rules/{rule.pk}/trigger/"' in page

    response = client_for(owner).post(f"{CONFIGURE}rules/{rule.pk}/trigger/")

    build = Build.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/{build.pk}/"
    assert build.phase == Build.Phase.QUEUED
    assert (build.trigger, build.requested_by) == (Build.Trigger.MANUAL, owner)
    assert (build.source_type, build.source_ref, build.tags) == ("branch", "main", ["latest"])


def test_a_regex_rule_cannot_be_triggered(git_settings, owner):
    rule = services.build_rule_create(
        settings=git_settings, source_type="tag", source="/^v(.*)$/", docker_tag=r"{\1}"
    )
    page = client_for(owner).get(CONFIGURE).content.decode()
    form = re.search(
        rf'<form class="rule-form" method="post" action="{CONFIGURE}rules/{rule.pk}/".*?</form>',
        page,
        re.S,
    ).group(0)
    assert "/trigger/" not in form
    assert re.search(r'title="A /regex/ rule names no one branch or tag[^"]*"><button', form)
    assert re.search(r"<button [^>]*disabled[^>]*>Trigger</button>", form)

    response = client_for(owner).post(f"{CONFIGURE}rules/{rule.pk}/trigger/", follow=True)

    assert "matches names by a pattern" in response.content.decode()
    assert not Build.objects.exists()


# Variables -----------------------------------------------------------------------------------


def test_variables_are_listed_by_name_and_never_shown(git_settings, owner):
    client = client_for(owner)

    response = client.post(
        f"{CONFIGURE}variables/",
        {"variable-name": "NPM_TOKEN", "variable-value": "npm_s3cr3t_value"},
        follow=True,
    )

    assert BuildVariable.objects.get().value == "npm_s3cr3t_value"
    page = response.content.decode()
    assert "Set the variable NPM_TOKEN. Its value is not shown again." in page
    assert '<td class="mono">NPM_TOKEN</td>' in page
    assert "npm_s3cr3t_value" not in page
    assert "npm_s3cr3t_value" not in client.get(CONFIGURE).content.decode()

    refused = client.post(
        f"{CONFIGURE}variables/", {"variable-name": "1BAD", "variable-value": "typed_secret"}
    ).content.decode()
    assert "letters, digits and" in refused
    assert "typed_secret" not in refused

    client.post(f"{CONFIGURE}variables/delete/", {"name": "NPM_TOKEN"})
    assert not BuildVariable.objects.exists()


# Repository links ----------------------------------------------------------------------------


@pytest.fixture
def library_busybox(staff_user):
    from accounts import services as account_services

    library = account_services.staff_namespace_get_or_create(name="library")
    return repository_services.repository_create(namespace=library, name="busybox")


def test_link_a_repository_and_remove_it(git_settings, owner, library_busybox):
    client = client_for(owner)

    response = client.post(f"{CONFIGURE}links/", {"link-repository": "library/busybox"})

    assert response["Location"] == f"{CONFIGURE}#links"
    link = BuildLink.objects.get()
    assert (link.settings, link.upstream) == (git_settings, library_busybox)
    page = client.get(CONFIGURE).content.decode()
    assert 'href="/r/library/busybox/">library/busybox</a>' in page
    # One-component names are in library/, as with docker pull.
    client.post(f"{CONFIGURE}links/", {"link-repository": "busybox"})
    assert BuildLink.objects.count() == 1

    client.post(f"{CONFIGURE}links/{link.pk}/delete/")
    assert not BuildLink.objects.exists()


def test_links_that_cannot_be_made(git_settings, owner, make_user):
    mallory = make_user("mallory")
    hidden = repository_services.repository_create(
        namespace=mallory.namespace, name="hidden", visibility="private", creator=mallory
    )
    client = client_for(owner)

    itself = client.post(f"{CONFIGURE}links/", {"link-repository": "ada/widget"})
    assert "A repository cannot be linked to itself." in itself.content.decode()
    # A private repository of someone else reads like one that does not exist.
    unreadable = client.post(f"{CONFIGURE}links/", {"link-repository": "mallory/hidden"})
    missing = client.post(f"{CONFIGURE}links/", {"link-repository": "mallory/nothing"})
    assert "There is no repository mallory/hidden that you can read." in (
        unreadable.content.decode()
    )
    assert "There is no repository mallory/nothing that you can read." in missing.content.decode()
    assert not BuildLink.objects.exists()
    # The service refuses it too, whatever the caller looked up.
    with pytest.raises(ValidationError, match="cannot read mallory/hidden"):
        services.build_link_add(settings=git_settings, upstream=hidden, user=owner)


def test_links_that_would_build_each_other_forever_are_refused(git_settings, owner, settings):
    base = repository_services.repository_create(
        namespace=owner.namespace, name="base", creator=owner
    )
    middle = repository_services.repository_create(
        namespace=owner.namespace, name="middle", creator=owner
    )
    base_settings = services.build_settings_save(
        repository=base, user=owner, provider="git", source="https://127.0.0.1/base.git"
    ).settings
    middle_settings = services.build_settings_save(
        repository=middle, user=owner, provider="git", source="https://127.0.0.1/middle.git"
    ).settings
    # widget → middle → base: a push to widget builds middle, and that builds base.
    services.build_link_add(settings=middle_settings, upstream=git_settings.repository, user=owner)
    services.build_link_add(settings=base_settings, upstream=middle, user=owner)

    with pytest.raises(ValidationError, match="build each other forever"):
        services.build_link_add(settings=git_settings, upstream=base, user=owner)
    assert BuildLink.objects.count() == 2


# Saving twice --------------------------------------------------------------------------------


def test_a_repository_is_configured_once(git_settings, owner, repository):
    with pytest.raises(ValidationError, match="configured already"):
        services.build_settings_save(
            repository=repository, user=owner, provider="git", source="https://127.0.0.1/b.git"
        )
    response = client_for(owner).post(
        CONFIGURE, {"provider": "git", "git-url": "https://127.0.0.1/b.git"}, follow=True
    )
    assert "configured already" in response.content.decode()
    assert BuildSettings.objects.get().source == "https://127.0.0.1/team/widget.git"
    assert Repository.objects.get(pk=repository.pk).is_automated
