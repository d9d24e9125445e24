"""Repository webhooks: Docker Hub's payload, signed, sent to a real HTTP
receiver on 127.0.0.1, retried with backoff, guarded, and managed from the
repository's settings."""

import json
import socket
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from builds import notifications, services
from builds.models import RepositoryWebhook, RepositoryWebhookDelivery
from repositories import services as repository_services
from repositories.models import Repository, Tag
from tests.helpers import CommittingClient
from tests.registry.helpers import OCI_MANIFEST, small_image_blobs

from .conftest import sign

pytestmark = pytest.mark.django_db

SECRET = "correct-horse-webhook-secret"
Status = RepositoryWebhookDelivery.Status


@pytest.fixture
def webhook(repository, webhook_receiver):
    return services.repository_webhook_create(
        repository=repository, name="deploy", url=webhook_receiver.url, secret=SECRET
    )


@pytest.fixture
def notify(owner, django_capture_on_commit_callbacks):
    """Tell the webhooks of a push as the push's task does, and run the
    deliveries queued on commit (eagerly, as the test settings run tasks)."""

    def notify(repository, tags, pusher=owner):
        with django_capture_on_commit_callbacks(execute=True):
            return services.repository_webhooks_notify(
                repository_id=repository.pk, tags=tags, pusher_id=pusher.pk if pusher else None
            )

    return notify


def outcome(delivery):
    """A delivery's status, attempts and last response status, as stored now."""
    delivery.refresh_from_db()
    return delivery.status, delivery.attempts, delivery.response_status


def closed_port():
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The payload and its signature ------------------------------------------------------


def test_push_payload_is_docker_hubs_format(
    repository, webhook, webhook_receiver, notify, settings
):
    settings.HUB_URL = "https://hub.example.com"
    Repository.objects.filter(pk=repository.pk).update(
        description="A widget",
        full_description="# Widget\nBuilt nightly.",
        is_automated=True,
        star_count=3,
    )
    repository.refresh_from_db()
    before = int(time.time())

    (delivery,) = notify(repository, ["1.0"])

    (request,) = webhook_receiver.wait_for(1)
    body = json.loads(request.body)
    token = notifications.callback_token(delivery.pk)
    assert body == {
        "callback_url": f"https://hub.example.com/builds/webhook-callbacks/{delivery.pk}/{token}/",
        "push_data": {"pushed_at": body["push_data"]["pushed_at"], "pusher": "ada", "tag": "1.0"},
        "repository": {
            "comment_count": 0,
            "date_created": int(repository.created_at.timestamp()),
            "description": "A widget",
            "dockerfile": "",
            "full_description": "# Widget\nBuilt nightly.",
            "is_official": False,
            "is_private": False,
            "is_trusted": True,
            "name": "widget",
            "namespace": "ada",
            "owner": "ada",
            "repo_name": "ada/widget",
            "repo_url": "https://hub.example.com/r/ada/widget/",
            "star_count": 3,
            "status": "Active",
        },
    }
    assert before <= body["push_data"]["pushed_at"] <= int(time.time())
    assert isinstance(body["push_data"]["pushed_at"], int)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("Hub-Webhooks/")
    assert request.headers["X-Hub-Event"] == "push"
    assert request.headers["X-Hub-Delivery"] == str(delivery.pk)
    # The signature is over the exact bytes received.
    assert request.headers["X-Hub-Signature-256"] == sign(request.body, SECRET)
    assert outcome(delivery) == (Status.SUCCESS, 1, 200)
    assert delivery.response_excerpt == "answer 200 to request 1"
    assert delivery.payload == body


def test_private_repository_says_so(repository, webhook, webhook_receiver, notify):
    Repository.objects.filter(pk=repository.pk).update(visibility="private")
    notify(repository, ["latest"])
    (request,) = webhook_receiver.wait_for(1)
    assert json.loads(request.body)["repository"]["is_private"] is True


def test_without_a_secret_nothing_is_signed(repository, webhook_receiver, notify):
    services.repository_webhook_create(repository=repository, name="open", url=webhook_receiver.url)
    notify(repository, ["latest"], pusher=None)
    (request,) = webhook_receiver.wait_for(1)
    assert "X-Hub-Signature-256" not in request.headers
    assert json.loads(request.body)["push_data"]["pusher"] == ""


def test_one_delivery_per_tag_to_each_active_webhook(repository, webhook, webhook_receiver, notify):
    inactive = services.repository_webhook_create(
        repository=repository, name="paused", url=webhook_receiver.url + "/paused", active=False
    )
    second = services.repository_webhook_create(
        repository=repository, name="chat", url=webhook_receiver.url + "/chat"
    )

    deliveries = notify(repository, ["1.0", "latest"])

    assert len(deliveries) == 4
    received = webhook_receiver.wait_for(4)
    sent = sorted((r.path, json.loads(r.body)["push_data"]["tag"]) for r in received)
    assert sent == [("/hook", "1.0"), ("/hook", "latest"), ("/hook/chat", "1.0"),
                    ("/hook/chat", "latest")]  # fmt: skip
    assert not inactive.deliveries.exists()
    assert second.deliveries.count() == 2
    assert set(RepositoryWebhookDelivery.objects.values_list("status", flat=True)) == {
        Status.SUCCESS
    }


def test_the_callback_url_answers_as_docker_hubs_does(repository, webhook, notify, client):
    (delivery,) = notify(repository, ["latest"])
    path = delivery.payload["callback_url"].removeprefix(notifications.absolute_url(""))
    report = {"state": "success", "description": "Deployed", "context": "CD", "target_url": ""}

    response = client.post(path, json.dumps(report), content_type="application/json")
    assert (response.status_code, response.json()) == (200, "OK")

    bad_state = client.post(path, json.dumps({"state": "fine"}), content_type="application/json")
    assert bad_state.status_code == 400
    forged = path.replace(notifications.callback_token(delivery.pk), "0" * 40)
    forged_response = client.post(forged, json.dumps(report), content_type="application/json")
    assert forged_response.status_code == 404
    assert client.get(path).status_code == 405


# Retries and failures -------------------------------------------------------------------


def test_a_failed_attempt_is_tried_again_until_delivered(
    repository, webhook, webhook_receiver, notify
):
    webhook_receiver.answer_with(500, 502)

    (delivery,) = notify(repository, ["latest"])

    first, second, third = webhook_receiver.wait_for(3)
    assert first.body == second.body == third.body
    assert {r.headers["X-Hub-Delivery"] for r in (first, second, third)} == {str(delivery.pk)}
    assert third.headers["X-Hub-Signature-256"] == sign(third.body, SECRET)
    assert outcome(delivery) == (Status.SUCCESS, 3, 200)
    assert delivery.response_excerpt == "answer 200 to request 3"
    assert len(webhook_receiver.requests) == 3


def test_backoff_between_attempts_then_failure(
    repository, webhook, webhook_receiver, owner, django_capture_on_commit_callbacks, settings
):
    settings.HUB_WEBHOOK_RETRY_DELAYS = [10, 60, 300, 1800]
    webhook_receiver.answer_with(*[503] * 5)
    with django_capture_on_commit_callbacks(execute=False):  # attempts made by hand below
        (delivery,) = services.repository_webhooks_notify(
            repository_id=repository.pk, tags=["latest"], pusher_id=owner.pk
        )

    waits = []
    for _ in range(5):
        attempt = services.repository_webhook_deliver(delivery_id=delivery.pk)
        waits.append(attempt.retry_in)
        if attempt.retry_in is not None:
            assert attempt.delivery.status == Status.PENDING

    assert waits == [10, 60, 300, 1800, None]
    assert outcome(delivery) == (Status.FAILED, 5, 503)
    assert delivery.response_excerpt == "answer 503 to request 5"
    assert delivery.last_attempt_at is not None
    # A finished delivery is never sent again.
    assert services.repository_webhook_deliver(delivery_id=delivery.pk) is None
    assert len(webhook_receiver.requests) == 5


def test_after_the_last_retry_the_delivery_fails(
    repository, webhook, webhook_receiver, notify, settings
):
    settings.HUB_WEBHOOK_RETRY_DELAYS = [1, 1]
    webhook_receiver.answer_with(500, 500, 500, 200)

    (delivery,) = notify(repository, ["latest"])

    webhook_receiver.wait_for(3)
    assert outcome(delivery) == (Status.FAILED, 3, 500)
    assert len(webhook_receiver.requests) == 3


def test_a_refused_connection_is_recorded(repository, notify, settings, webhook_receiver):
    settings.HUB_WEBHOOK_RETRY_DELAYS = []
    url = f"http://127.0.0.1:{closed_port()}/hook"
    services.repository_webhook_create(repository=repository, name="gone", url=url)

    (delivery,) = notify(repository, ["latest"])

    assert outcome(delivery) == (Status.FAILED, 1, None)
    assert delivery.response_excerpt.startswith("Could not send:")
    assert "refused" in delivery.response_excerpt.lower()


def test_a_slow_receiver_times_out(repository, webhook, webhook_receiver, notify, settings):
    settings.HUB_WEBHOOK_RETRY_DELAYS = []
    settings.HUB_WEBHOOK_TIMEOUT = 0.3
    webhook_receiver.delay = 1.5

    started = time.monotonic()
    (delivery,) = notify(repository, ["latest"])

    assert time.monotonic() - started < 1.5
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status) == (Status.FAILED, None)
    assert delivery.response_excerpt == "No answer within 0.3 seconds."


def test_redirects_are_not_followed(repository, webhook, webhook_receiver, notify, settings):
    settings.HUB_WEBHOOK_RETRY_DELAYS = []
    webhook_receiver.answer_with(302)
    webhook_receiver.headers = {"Location": webhook_receiver.url + "/elsewhere"}

    (delivery,) = notify(repository, ["latest"])

    time.sleep(0.2)  # time enough for a followed redirect to arrive
    assert [r.path for r in webhook_receiver.requests] == ["/hook"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_status) == (Status.FAILED, 302)
    assert delivery.response_excerpt.startswith(
        f"Redirect to {webhook_receiver.url}/elsewhere not followed."
    )


def test_a_deleted_webhook_is_not_sent_to(
    repository, webhook, webhook_receiver, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        (delivery,) = services.repository_webhooks_notify(
            repository_id=repository.pk, tags=["latest"], pusher_id=owner.pk
        )
    services.repository_webhook_delete(webhook=webhook)
    assert services.repository_webhook_deliver(delivery_id=delivery.pk) is None
    assert webhook_receiver.requests == []


# The outgoing-address guard ------------------------------------------------------------


def test_loopback_urls_are_refused_unless_allowed(repository, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    settings.HUB_ALLOW_PRIVATE_NETWORKS = False
    for url in ("http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://[::1]/hook"):
        with pytest.raises(ValidationError) as refused:
            services.repository_webhook_create(repository=repository, name="x", url=url)
        assert "not a public address" in refused.value.message_dict["url"][0]
        assert "HUB_BUILDS_ALLOWED_HOSTS" in refused.value.message_dict["url"][0]
    with pytest.raises(ValidationError, match="scheme"):
        services.repository_webhook_create(repository=repository, name="x", url="ftp://x/y")
    assert not RepositoryWebhook.objects.exists()

    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    services.repository_webhook_create(repository=repository, name="x", url="http://127.0.0.1/a")
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    settings.HUB_ALLOW_PRIVATE_NETWORKS = True
    services.repository_webhook_create(repository=repository, name="y", url="http://10.1.2.3/b")
    assert RepositoryWebhook.objects.count() == 2


def test_the_url_is_checked_again_before_each_attempt(
    repository, webhook, webhook_receiver, notify, settings
):
    settings.HUB_WEBHOOK_RETRY_DELAYS = []
    settings.HUB_BUILDS_ALLOWED_HOSTS = []  # the operator withdrew the permission

    (delivery,) = notify(repository, ["latest"])

    assert webhook_receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert delivery.response_excerpt.startswith("Not sent: 127.0.0.1 resolves to 127.0.0.1")


def test_changing_the_url_is_guarded_too(webhook, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError, match="not a public address"):
        services.repository_webhook_update(webhook=webhook, url="http://192.168.1.1/hook")
    webhook.refresh_from_db()
    assert webhook.url.startswith("http://127.0.0.1:")


# A push through the registry ---------------------------------------------------------------


def push_image(registry, name, tag):
    """Push a small image as ``name:tag`` (``registry``: a Django test client)."""
    manifest = small_image_blobs(registry, name)
    response = registry.put(f"/v2/{name}/manifests/{tag}", manifest, content_type=OCI_MANIFEST)
    assert response.status_code == 201, response.content


def test_a_registry_push_notifies_the_webhooks(
    registry_client,
    staff_user,
    django_capture_on_commit_callbacks,
    isolated_storage,
    webhook_receiver,
):
    repository = repository_services.repository_create(
        namespace=staff_user.namespace, name="app", creator=staff_user
    )
    services.repository_webhook_create(
        repository=repository, name="deploy", url=webhook_receiver.url, secret=SECRET
    )
    registry = CommittingClient(registry_client, django_capture_on_commit_callbacks)

    push_image(registry, "tester/app", "1.0")
    push_image(registry, "tester/app", "latest")

    received = webhook_receiver.wait_for(2)
    payloads = [json.loads(request.body) for request in received]
    assert [p["push_data"]["tag"] for p in payloads] == ["1.0", "latest"]
    assert {p["push_data"]["pusher"] for p in payloads} == {"tester"}
    assert {p["repository"]["repo_name"] for p in payloads} == {"tester/app"}
    for request, payload in zip(received, payloads, strict=True):
        tag = Tag.objects.get(repository=repository, name=payload["push_data"]["tag"])
        assert payload["push_data"]["pushed_at"] == int(tag.pushed_at.timestamp())
        assert request.headers["X-Hub-Signature-256"] == sign(request.body, SECRET)
    assert list(RepositoryWebhookDelivery.objects.values_list("status", flat=True)) == [
        Status.SUCCESS,
        Status.SUCCESS,
    ]


# The settings pages -----------------------------------------------------------------


@pytest.fixture
def private_repository(owner):
    return repository_services.repository_create(
        namespace=owner.namespace, name="secret-app", visibility="private", creator=owner
    )


def page(repository, view="webhook-list", *extra):
    return reverse(view, args=[repository.namespace.name, repository.name, *extra])


def test_only_admins_reach_the_webhooks_pages(
    client, owner, private_repository, make_user, webhook_receiver
):
    webhook = services.repository_webhook_create(
        repository=private_repository, name="deploy", url=webhook_receiver.url
    )
    reader, writer, admin, stranger = (make_user(n) for n in ("reader", "writer", "boss", "eve"))
    for user, permission in ((reader, "read"), (writer, "write"), (admin, "admin")):
        repository_services.collaborator_set(
            repository=private_repository, user=user, permission=permission
        )
    pages = [
        ("get", page(private_repository)),
        ("get", page(private_repository, "webhook-detail", webhook.pk)),
        ("post", page(private_repository, "webhook-test", webhook.pk)),
        ("post", page(private_repository, "webhook-delete", webhook.pk)),
    ]

    for method, url in pages:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    client.force_login(stranger)
    for method, url in pages:
        assert getattr(client, method)(url).status_code == 404, url
    for user in (reader, writer):
        client.force_login(user)
        for method, url in pages:
            assert getattr(client, method)(url).status_code == 403, (user, url)
    create = client.post(page(private_repository), {"name": "x", "url": webhook_receiver.url})
    assert create.status_code == 403
    assert RepositoryWebhook.objects.count() == 1
    assert not RepositoryWebhookDelivery.objects.exists()

    for user in (admin, owner):
        client.force_login(user)
        response = client.get(page(private_repository))
        assert response.status_code == 200
        assert webhook_receiver.url in response.content.decode()


def test_a_public_repositorys_webhooks_are_for_its_admins_only(client, repository, bob):
    client.force_login(bob)
    assert client.get(page(repository)).status_code == 403


def test_settings_page_links_to_the_webhooks(client, owner, repository):
    client.force_login(owner)
    response = client.get(reverse("repository-settings", args=["ada", "widget"]))
    assert f'href="{page(repository)}"' in response.content.decode()


def test_create_edit_and_delete_a_webhook(client, owner, repository, webhook_receiver):
    client.force_login(owner)
    response = client.post(
        page(repository), {"name": "deploy", "url": webhook_receiver.url, "secret": SECRET}
    )
    assert response.status_code == 302
    webhook = RepositoryWebhook.objects.get()
    assert (webhook.name, webhook.url, webhook.secret, webhook.active) == (
        "deploy",
        webhook_receiver.url,
        SECRET,
        True,
    )
    assert SECRET not in webhook.secret_encrypted
    detail = page(repository, "webhook-detail", webhook.pk)
    html = client.get(detail).content.decode()
    assert SECRET not in html  # write-only
    assert "A secret is set" in html

    # An empty secret keeps the one set; other fields change.
    edit = {"name": "deploy v2", "url": webhook_receiver.url + "/v2", "secret": ""}
    assert client.post(detail, edit).status_code == 302
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url, webhook.secret, webhook.active) == (
        "deploy v2",
        webhook_receiver.url + "/v2",
        SECRET,
        False,  # the box was left unticked
    )
    client.post(detail, {**edit, "secret": "another", "active": "on"})
    webhook.refresh_from_db()
    assert (webhook.secret, webhook.active) == ("another", True)
    client.post(detail, {**edit, "active": "on", "remove_secret": "on"})
    webhook.refresh_from_db()
    assert webhook.secret_encrypted == ""

    response = client.post(page(repository, "webhook-delete", webhook.pk))
    assert response.status_code == 302
    assert not RepositoryWebhook.objects.exists()


def test_the_form_says_why_a_url_is_refused(client, owner, repository, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    client.force_login(owner)
    response = client.post(page(repository), {"name": "x", "url": "http://127.0.0.1:9/hook"})
    assert response.status_code == 200
    assert "not a public address" in response.content.decode()
    assert not RepositoryWebhook.objects.exists()


def test_send_test_delivers_and_shows_in_the_history(
    client, owner, repository, webhook, webhook_receiver, django_capture_on_commit_callbacks
):
    webhook_receiver.answer_with(500)
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page(repository, "webhook-test", webhook.pk))
    assert response.status_code == 302

    first, second = webhook_receiver.wait_for(2)
    assert second.headers["X-Hub-Event"] == "test"
    body = json.loads(second.body)
    assert body["push_data"]["tag"] == "latest"  # no tag pushed yet
    assert body["push_data"]["pusher"] == "ada"
    assert body["repository"]["repo_name"] == "ada/widget"
    assert second.headers["X-Hub-Signature-256"] == sign(second.body, SECRET)

    html = client.get(page(repository, "webhook-detail", webhook.pk)).content.decode()
    assert "Delivered" in html
    assert "answer 200 to request 2" in html
    delivery = RepositoryWebhookDelivery.objects.get()
    assert (delivery.event, delivery.attempts, delivery.response_status) == ("test", 2, 200)


def test_history_shows_the_last_fifty_deliveries(client, owner, repository, webhook):
    for number in range(55):
        RepositoryWebhookDelivery.objects.create(
            webhook=webhook,
            payload={"push_data": {"tag": f"build-{number}"}},
            status=Status.FAILED,
            attempts=5,
            response_status=503,
            response_excerpt=f"down for maintenance {number}",
        )
    client.force_login(owner)
    response = client.get(page(repository, "webhook-detail", webhook.pk))
    shown = list(response.context["deliveries"])
    assert len(shown) == 50
    html = response.content.decode()
    assert "build-54" in html and "down for maintenance 54" in html
    assert "build-4<" not in html  # the oldest five are left out
    assert "Failed" in html and "503" in html
