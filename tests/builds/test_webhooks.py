"""Webhooks replayed from the providers' real payloads (fixtures/), signed
in the test with the repository's secret."""

import json
import uuid

import pytest

from builds import services
from builds.models import Build, WebhookDelivery

from .conftest import payload, sign

pytestmark = pytest.mark.django_db


def post_github(client, build_settings, body, *, event="push", delivery=None, signature=None):
    headers = {
        "HTTP_X_GITHUB_EVENT": event,
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
        "HTTP_USER_AGENT": "GitHub-Hookshot/6f1c0c5",
    }
    if signature is not False:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature or sign(body, build_settings.webhook_secret)
    return client.post(
        f"/builds/hooks/{build_settings.hook_id}/github",
        data=body,
        content_type="application/json",
        **headers,
    )


def post_bitbucket(client, build_settings, body, *, request_uuid=None, signature=None):
    headers = {
        "HTTP_X_EVENT_KEY": "repo:push",
        "HTTP_X_HOOK_UUID": str(uuid.uuid4()),
        "HTTP_X_REQUEST_UUID": request_uuid or str(uuid.uuid4()),
        "HTTP_X_ATTEMPT_NUMBER": "1",
        "HTTP_USER_AGENT": "Bitbucket-Webhooks/2.0",
    }
    if signature is not False:
        headers["HTTP_X_HUB_SIGNATURE"] = signature or sign(body, build_settings.webhook_secret)
    return client.post(
        f"/builds/hooks/{build_settings.hook_id}/bitbucket",
        data=body,
        content_type="application/json",
        **headers,
    )


@pytest.fixture
def github(make_settings):
    return make_settings("github").settings


@pytest.fixture
def bitbucket(make_settings):
    return make_settings("bitbucket").settings


def test_github_branch_push_queues_the_default_rule(client, github):
    response = post_github(client, github, payload("github", "push__branch"))
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    build = Build.objects.get()
    assert build.phase == Build.Phase.QUEUED
    assert (build.source_type, build.source_ref, build.tags) == ("branch", "main", ["latest"])
    assert build.commit_sha == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
    assert build.commit_message.startswith("Serve /healthz")
    assert build.trigger == Build.Trigger.WEBHOOK
    assert build.repository == github.repository
    assert build.delivery.outcome == WebhookDelivery.Outcome.QUEUED


def test_github_tag_push_with_a_regex_rule(client, github):
    services.build_rule_create(
        settings=github, source_type="tag", source=r"/^v([0-9.]+)$/", docker_tag=r"{\1},stable"
    )
    response = post_github(client, github, payload("github", "push__tag"))
    assert response.status_code == 202
    build = Build.objects.get()
    assert (build.source_type, build.source_ref, build.tags) == (
        "tag",
        "v1.2.3",
        ["1.2.3", "stable"],
    )
    assert build.commit_sha == "a10867b14bb761a232cd80139fbd4c0d33264240"
    assert build.commit_message == "Release 1.2.3"


def test_several_matching_rules_queue_one_build_per_tag_set(client, github):
    services.build_rule_create(
        settings=github, source_type="branch", source="/.*/", docker_tag="{sourceref}"
    )
    services.build_rule_create(
        settings=github, source_type="branch", source="main", docker_tag="latest"
    )
    response = post_github(client, github, payload("github", "push__branch"))
    assert response.status_code == 202
    assert sorted(tuple(build.tags) for build in Build.objects.all()) == [("latest",), ("main",)]


def test_push_matching_no_rule_is_200_with_a_reason(client, github):
    response = post_github(client, github, payload("github", "push__tag"))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert "No build rule matches the tag v1.2.3" in response.json()["reason"]
    assert not Build.objects.exists()
    assert WebhookDelivery.objects.get().outcome == WebhookDelivery.Outcome.IGNORED


def test_branch_delete_builds_nothing(client, github):
    services.build_rule_create(settings=github, source_type="branch", source="/.*/", docker_tag="x")
    response = post_github(client, github, payload("github", "push__branch_delete"))
    assert response.status_code == 200
    assert response.json()["reason"] == "The branch feature/old-ui was deleted; nothing to build."
    assert not Build.objects.exists()


def test_rule_with_autobuild_off_is_not_built_by_webhooks(client, github):
    github.rules.update(autobuild=False)
    response = post_github(client, github, payload("github", "push__branch"))
    assert response.status_code == 200
    assert not Build.objects.exists()


def test_redelivery_does_not_build_twice(client, github):
    body = payload("github", "push__branch")
    delivery = str(uuid.uuid4())
    assert post_github(client, github, body, delivery=delivery).status_code == 202
    again = post_github(client, github, body, delivery=delivery)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert Build.objects.count() == 1
    assert WebhookDelivery.objects.count() == 1
    # A new delivery of the same commit (a manual redeliver is a new id) builds again.
    assert post_github(client, github, body).status_code == 202
    assert Build.objects.count() == 2


@pytest.mark.parametrize(
    "signature",
    [
        False,  # unsigned
        "sha256=" + "0" * 64,
        "sha1=0123456789abcdef0123456789abcdef01234567",
        "sha256=",
        "garbage",
    ],
)
def test_forged_or_unsigned_github_webhook_is_403_and_records_nothing(client, github, signature):
    response = post_github(client, github, payload("github", "push__branch"), signature=signature)
    assert response.status_code == 403
    assert not Build.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_signature_of_another_body_is_refused(client, github):
    body = payload("github", "push__branch")
    tampered = body.replace(b"refs/heads/main", b"refs/heads/evil")
    response = post_github(client, github, tampered, signature=sign(body, github.webhook_secret))
    assert response.status_code == 403
    assert not Build.objects.exists()


def test_signature_with_another_repositorys_secret_is_refused(client, github, django_user_model):
    body = payload("github", "push__branch")
    response = post_github(client, github, body, signature=sign(body, "not-the-secret"))
    assert response.status_code == 403


def test_unknown_hook_is_404(client, github):
    body = payload("github", "push__branch")
    response = client.post(
        f"/builds/hooks/{uuid.uuid4()}/github",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="push",
        HTTP_X_HUB_SIGNATURE_256=sign(body, github.webhook_secret),
    )
    assert response.status_code == 404
    assert not Build.objects.exists()


def test_hook_of_another_provider_is_404(client, github):
    response = post_bitbucket(client, github, payload("bitbucket", "repo_push__branch"))
    assert response.status_code == 404


def test_github_ping_is_answered_without_building(client, github):
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    response = post_github(client, github, body, event="ping")
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert not WebhookDelivery.objects.exists()


def test_webhook_only_accepts_post(client, github):
    assert client.get(f"/builds/hooks/{github.hook_id}/github").status_code == 405


def test_signed_body_that_is_not_a_push_is_400(client, github):
    body = b'{"ref": "refs/pull/1/head"}'
    assert post_github(client, github, body).status_code == 400
    assert post_github(client, github, b"not json").status_code == 400


def test_bitbucket_push_queues_a_build(client, bitbucket):
    request_uuid = str(uuid.uuid4())
    response = post_bitbucket(
        client, bitbucket, payload("bitbucket", "repo_push__branch"), request_uuid=request_uuid
    )
    assert response.status_code == 202
    build = Build.objects.get()
    assert (build.source_type, build.source_ref, build.tags) == ("branch", "main", ["latest"])
    assert build.commit_sha == "9c4f3a1e2d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
    assert build.commit_message == "Serve /healthz\n"
    assert build.delivery.delivery_id == request_uuid


def test_bitbucket_redelivery_does_not_build_twice(client, bitbucket):
    body = payload("bitbucket", "repo_push__branch")
    request_uuid = str(uuid.uuid4())
    post_bitbucket(client, bitbucket, body, request_uuid=request_uuid)
    again = post_bitbucket(client, bitbucket, body, request_uuid=request_uuid)
    assert again.json()["status"] == "duplicate"
    assert Build.objects.count() == 1


@pytest.mark.parametrize("signature", [False, "sha256=" + "f" * 64])
def test_forged_or_unsigned_bitbucket_webhook_is_403(client, bitbucket, signature):
    response = post_bitbucket(
        client, bitbucket, payload("bitbucket", "repo_push__branch"), signature=signature
    )
    assert response.status_code == 403
    assert not Build.objects.exists()
    assert not WebhookDelivery.objects.exists()


def test_bitbucket_branch_delete_builds_nothing(client, bitbucket):
    data = json.loads(payload("bitbucket", "repo_push__branch"))
    change = data["push"]["changes"][0]
    change.update(new=None, closed=True, commits=[])
    response = post_bitbucket(client, bitbucket, json.dumps(data).encode())
    assert response.status_code == 200
    assert response.json()["reason"] == "The branch main was deleted; nothing to build."


class TestGenericTrigger:
    @pytest.fixture
    def created(self, make_settings):
        return make_settings("github")

    def test_token_in_url_builds_the_default_branch(self, client, created):
        hook = created.settings.hook_id
        response = client.post(
            f"/builds/hooks/{hook}/generic/{created.trigger_token}",
            data=b"",
            content_type="application/json",
        )
        assert response.status_code == 202
        build = Build.objects.get()
        assert (build.source_ref, build.tags, build.trigger) == ("main", ["latest"], "trigger_url")
        assert build.commit_sha == ""

    def test_token_in_body_with_a_ref(self, client, created):
        services.build_rule_create(
            settings=created.settings,
            source_type="tag",
            source="/v(.*)/",
            docker_tag=r"{\1}",
            autobuild=False,
        )
        body = {"token": created.trigger_token, "ref": "refs/tags/v2.0", "commit": "a" * 40}
        response = client.post(
            f"/builds/hooks/{created.settings.hook_id}/generic",
            data=body,
            content_type="application/json",
        )
        assert response.status_code == 202
        assert Build.objects.get().tags == ["2.0"]

    @pytest.mark.parametrize("token", ["", "wrong"])
    def test_wrong_or_missing_token_is_403(self, client, created, token):
        url = f"/builds/hooks/{created.settings.hook_id}/generic" + (f"/{token}" if token else "")
        response = client.post(url, data={"token": token}, content_type="application/json")
        assert response.status_code == 403
        assert not Build.objects.exists()

    def test_regenerated_token_replaces_the_old_one(self, client, created):
        new = services.build_trigger_token_regenerate(settings=created.settings)
        base = f"/builds/hooks/{created.settings.hook_id}/generic"
        assert client.post(f"{base}/{created.trigger_token}").status_code == 403
        assert client.post(f"{base}/{new}").status_code == 202

    def test_delivery_id_dedupes(self, client, created):
        url = f"/builds/hooks/{created.settings.hook_id}/generic/{created.trigger_token}"
        body = {"source_type": "branch", "source_name": "main", "delivery_id": "ci-run-7"}
        assert client.post(url, data=body, content_type="application/json").status_code == 202
        again = client.post(url, data=body, content_type="application/json")
        assert again.json()["status"] == "duplicate"
        assert Build.objects.count() == 1

    def test_bad_body_is_400(self, client, created):
        url = f"/builds/hooks/{created.settings.hook_id}/generic/{created.trigger_token}"
        response = client.post(url, data={"ref": "main"}, content_type="application/json")
        assert response.status_code == 400
