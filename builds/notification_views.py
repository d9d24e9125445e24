"""A repository's webhooks (repository settings → Webhooks), for its admins:
list, create, edit, delete, send a test, and each webhook's delivery
history. Someone who cannot read the repository gets 404, as if it did not
exist; a reader who is not an admin gets 403.

Also the callback URL named in every payload, which a receiver may POST its
outcome to, as Docker Hub's receivers do."""

import json
import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from repositories.views import repository_administered

from . import notifications, services
from .models import RepositoryWebhook, RepositoryWebhookDelivery

logger = logging.getLogger(__name__)

HISTORY_SIZE = 50
CALLBACK_STATES = ("success", "failure", "error")
CALLBACK_MAX_BYTES = 64 * 1024


class RepositoryWebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(
        label="Webhook URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Hub POSTs Docker Hub's JSON payload here after every push, once per tag.",
    )
    secret = forms.CharField(
        required=False,
        max_length=255,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            "Optional. When set, every request carries X-Hub-Signature-256: sha256= and the "
            "HMAC-SHA256 of its body with this secret. It is never shown again."
        ),
    )


class RepositoryWebhookEditForm(RepositoryWebhookForm):
    active = forms.BooleanField(
        required=False, help_text="Inactive webhooks are not notified of pushes."
    )
    remove_secret = forms.BooleanField(required=False, label="Remove the secret")

    def __init__(self, *args, has_secret, **kwargs):
        super().__init__(*args, **kwargs)
        if has_secret:
            self.fields[
                "secret"
            ].help_text = (
                "A secret is set. Leave this empty to keep it, or type a new one to replace it."
            )
        else:
            del self.fields["remove_secret"]


def _webhook(repository, webhook_id):
    return get_object_or_404(RepositoryWebhook, repository=repository, pk=webhook_id)


def _add_errors(form, error):
    """A service's ValidationError on the form, on the field it names."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@login_required
def webhook_list(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    form = RepositoryWebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook = services.repository_webhook_create(repository=repository, **form.cleaned_data)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Created the webhook {webhook.name}.")
            return redirect("webhook-list", namespace=namespace, name=name)
    last_delivery = RepositoryWebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by(
        "-created_at", "-pk"
    )
    webhooks = repository.webhooks.annotate(
        last_status=Subquery(last_delivery.values("status")[:1]),
        last_delivery_at=Subquery(last_delivery.values("created_at")[:1]),
    )
    return render(
        request,
        "builds/repositorywebhook_list.html",
        {"repository": repository, "form": form, "webhooks": webhooks},
    )


@login_required
def webhook_detail(request, namespace, name, webhook_id):
    """Edit one webhook, and see its last deliveries."""
    repository = repository_administered(request, namespace, name)
    webhook = _webhook(repository, webhook_id)
    has_secret = bool(webhook.secret_encrypted)
    initial = {"name": webhook.name, "url": webhook.url, "active": webhook.active}
    form = RepositoryWebhookEditForm(request.POST or None, initial=initial, has_secret=has_secret)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if data.get("remove_secret"):
            secret = ""
        else:
            secret = data["secret"] or None  # empty: keep the current one
        try:
            services.repository_webhook_update(
                webhook=webhook,
                name=data["name"],
                url=data["url"],
                active=data["active"],
                secret=secret,
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Saved the webhook {webhook.name}.")
            return redirect("webhook-detail", namespace=namespace, name=name, webhook_id=webhook.pk)
    return render(
        request,
        "builds/repositorywebhook_detail.html",
        {
            "repository": repository,
            "webhook": webhook,
            "has_secret": has_secret,
            "form": form,
            "deliveries": webhook.deliveries.all()[:HISTORY_SIZE],
            "history_size": HISTORY_SIZE,
        },
    )


@login_required
@require_POST
def webhook_delete(request, namespace, name, webhook_id):
    repository = repository_administered(request, namespace, name)
    webhook = _webhook(repository, webhook_id)
    services.repository_webhook_delete(webhook=webhook)
    messages.success(request, f"Deleted the webhook {webhook.name}.")
    return redirect("webhook-list", namespace=namespace, name=name)


@login_required
@require_POST
def webhook_test(request, namespace, name, webhook_id):
    """Send a test notification now; it shows in the history like any other."""
    repository = repository_administered(request, namespace, name)
    webhook = _webhook(repository, webhook_id)
    services.repository_webhook_test(webhook=webhook, user=request.user)
    messages.success(
        request, f"Queued a test notification to {webhook.name}; its outcome is below."
    )
    return redirect("webhook-detail", namespace=namespace, name=name, webhook_id=webhook.pk)


@csrf_exempt
@require_POST
def webhook_callback(request, delivery_id, token):
    """A receiver's report on a notification, as Docker Hub takes it on its
    callback URL: ``{"state": "success"|"failure"|"error", "description",
    "context", "target_url"}``, answered with ``"OK"``. Hub sends no further
    webhooks in a chain, so the report is logged."""
    if not notifications.callback_token_valid(delivery_id, token):
        raise Http404("No such callback.")
    delivery = RepositoryWebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such callback.")
    if len(request.body) > CALLBACK_MAX_BYTES:
        return JsonResponse({"error": "The body is too large."}, status=413)
    try:
        report = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"error": "The body must be JSON."}, status=400)
    state = report.get("state") if isinstance(report, dict) else None
    if state not in CALLBACK_STATES:
        return JsonResponse(
            {"error": f"state must be one of {', '.join(CALLBACK_STATES)}."}, status=400
        )
    logger.info(
        "Webhook callback for delivery %s (webhook %s): %s %s",
        delivery.pk,
        delivery.webhook_id,
        state,
        str(report.get("description", ""))[:200],
    )
    return JsonResponse("OK", safe=False)
