import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key
from django.core.exceptions import ValidationError

from builds import services
from builds.models import Build, BuildVariable
from builds.sources.base import token_hash

pytestmark = pytest.mark.django_db


def test_settings_start_with_the_default_rule_and_secrets(make_settings):
    created = make_settings("github", default_branch="trunk")
    build_settings = created.settings
    (rule,) = build_settings.rules.all()
    assert (rule.source_type, rule.source, rule.docker_tag) == ("branch", "trunk", "latest")
    assert len(build_settings.webhook_secret) >= 32
    assert build_settings.webhook_secret not in build_settings.webhook_secret_encrypted
    assert build_settings.trigger_token_hash == token_hash(created.trigger_token)
    assert created.trigger_token not in build_settings.trigger_token_hash
    assert build_settings.deploy_key_public == ""


def test_ssh_git_url_gets_an_ed25519_deploy_key(make_settings, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    build_settings = make_settings("git", source="git@127.0.0.1:acme/widget.git").settings
    assert build_settings.linked_user is None
    assert build_settings.deploy_key_public.startswith("ssh-ed25519 ")
    assert build_settings.deploy_key_public.endswith(" hub-deploy-ada/widget")
    assert "PRIVATE KEY" not in build_settings.deploy_key_private_encrypted
    private = load_ssh_private_key(build_settings.deploy_key_private.encode(), password=None)
    public = load_ssh_public_key(build_settings.deploy_key_public.encode())
    assert private.public_key().public_bytes_raw() == public.public_bytes_raw()


def test_https_git_url_gets_no_deploy_key(make_settings, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    assert (
        make_settings("git", source="http://127.0.0.1:8080/widget.git").settings.deploy_key_public
        == ""
    )


def test_git_url_is_guarded(make_settings, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError, match="not a public address"):
        make_settings("git", source="https://127.0.0.1/widget.git")


@pytest.mark.parametrize("source", ["acme", "acme/widget/extra", "../x", "acme/.."])
def test_provider_source_must_be_owner_and_name(make_settings, source):
    with pytest.raises(ValidationError):
        make_settings("github", source=source)


def test_provider_source_needs_a_linked_user(repository):
    with pytest.raises(ValidationError, match="linked"):
        services.build_settings_create(repository=repository, provider="bitbucket", source="a/b")


def test_rule_validation_at_save_time(make_settings):
    build_settings = make_settings().settings
    with pytest.raises(ValidationError, match="capture group"):
        services.build_rule_create(
            settings=build_settings, source_type="tag", source="/v(.*)/", docker_tag=r"{\2}"
        )
    rule = services.build_rule_create(
        settings=build_settings, source_type="tag", source="/v(.*)/", docker_tag=r"{\1}"
    )
    assert rule.position == 1


def test_variables_are_write_only(make_settings):
    build_settings = make_settings().settings
    services.build_variable_set(settings=build_settings, name="NPM_TOKEN", value="npm_abc123")
    services.build_variable_set(settings=build_settings, name="NPM_TOKEN", value="npm_def456")
    variable = BuildVariable.objects.get()
    assert variable.value == "npm_def456"
    assert "npm_def456" not in variable.value_encrypted
    assert str(variable) == "NPM_TOKEN"
    with pytest.raises(ValidationError):
        services.build_variable_set(settings=build_settings, name="1BAD", value="x")
    services.build_variable_delete(settings=build_settings, name="NPM_TOKEN")
    assert not BuildVariable.objects.exists()


def test_log_is_capped(make_settings, settings):
    settings.HUB_BUILD_LOG_MAX_BYTES = 20
    build_settings = make_settings().settings
    build = Build.objects.create(
        repository=build_settings.repository,
        settings=build_settings,
        trigger=Build.Trigger.MANUAL,
        source_type="branch",
        source_ref="main",
    )
    services.build_log_append(build=build, text="step 1/2\n")
    services.build_log_append(build=build, text="step 2/2: a long line\n")
    services.build_log_append(build=build, text="never kept\n")
    build.refresh_from_db()
    assert build.log_text().startswith("step 1/2\nstep 2/2: a")
    assert build.log_text().endswith(services.TRUNCATION_NOTE)
    assert "never kept" not in build.log_text()
    assert build.log_truncated
