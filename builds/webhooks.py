"""Webhooks in: one endpoint per provider for each repository's build
settings, named by its hook id, and the generic trigger URL. They answer
JSON: 404 for an unknown hook, 403 for a forged or unsigned request
(nothing is recorded), 400 for a body the provider never sends, and
otherwise 200 (nothing to build, with the reason) or 202 (builds queued)."""

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from hub import metrics

from . import services
from .models import Build, BuildSettings
from .sources import (
    BitbucketSource,
    GitHubSource,
    WebhookForbidden,
    WebhookInvalid,
    generic_parse,
    generic_verify,
)

logger = logging.getLogger(__name__)


def _settings_for(hook_id, provider=None):
    queryset = BuildSettings.objects.filter(hook_id=hook_id)
    if provider is not None:
        queryset = queryset.filter(provider=provider)
    return queryset.first()


def _unknown_hook():
    return JsonResponse({"status": "error", "reason": "Unknown hook."}, status=404)


def _forbidden(error):
    return JsonResponse({"status": "error", "reason": str(error)}, status=403)


def _invalid(error):
    return JsonResponse({"status": "error", "reason": str(error)}, status=400)


def _answer(result):
    return JsonResponse(result.as_json(), status=202 if result.builds else 200)


def _provider_hook(request, hook_id, source):
    settings = _settings_for(hook_id, source.provider)
    if settings is None:
        return _unknown_hook()
    body = request.body
    try:
        source.verify_webhook(headers=request.headers, body=body, secret=settings.webhook_secret)
    except WebhookForbidden as error:
        logger.warning("Refused a %s webhook for hook %s: %s", source.name, hook_id, error)
        return _forbidden(error)
    event = source.event(request.headers)
    if not source.is_push(event):
        return JsonResponse(
            {"status": "ignored", "reason": f"The {event or 'unnamed'} event builds nothing."}
        )
    try:
        pushes = source.parse_webhook(headers=request.headers, body=body)
    except WebhookInvalid as error:
        return _invalid(error)
    result = services.webhook_receive(
        settings=settings,
        kind=source.provider,
        event=event,
        delivery_id=source.delivery_id(request.headers, body),
        pushes=pushes,
    )
    return _answer(result)


@csrf_exempt
@require_POST
@metrics.counts_received_webhooks("github")
def github_hook(request, hook_id):
    return _provider_hook(request, hook_id, GitHubSource())


@csrf_exempt
@require_POST
@metrics.counts_received_webhooks("bitbucket")
def bitbucket_hook(request, hook_id):
    return _provider_hook(request, hook_id, BitbucketSource())


@csrf_exempt
@require_POST
@metrics.counts_received_webhooks("generic")
def generic_hook(request, hook_id, token=""):
    """The trigger URL: the token in the URL, or as the body's ``"token"``."""
    settings = _settings_for(hook_id)
    if settings is None:
        return _unknown_hook()
    # A bare POST (curl -X POST, a form) builds the default branch.
    body = request.body if request.content_type == "application/json" else b""
    try:
        generic_verify(url_token=token, body=body, stored_hash=settings.trigger_token_hash)
    except WebhookForbidden as error:
        return _forbidden(error)
    try:
        push = generic_parse(body, default_branch=settings.default_branch)
    except WebhookInvalid as error:
        return _invalid(error)
    result = services.webhook_receive(
        settings=settings,
        kind="generic",
        event="trigger",
        delivery_id=push.delivery_id,
        pushes=[push],
        trigger=Build.Trigger.TRIGGER_URL,
    )
    return _answer(result)
