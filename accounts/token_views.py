"""The registry token endpoint (Docker's token authentication): GET with
Basic credentials, and the OAuth2 POST form with password and refresh
token grants."""

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from hub import metrics
from repositories import permissions
from repositories.registry import outages

from . import credentials, registry_tokens, services, token_service
from .models import AccessToken


def _error(status, code, message, headers=None, detail=None):
    error = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    response = JsonResponse({"errors": [error]}, status=status)
    for header, value in (headers or {}).items():
        response[header] = value
    return response


def _failure(request, exc):
    """An unexpected exception, answered as the registry answers one: 503
    with Retry-After when something is down, 507 on a full disk, else 500.
    A client logging in during an outage is told to come back, not shown
    Django's HTML error page."""
    error = outages.error_for(exc)
    response = _error(
        error.status, error.code, error.message, headers=error.headers, detail=error.detail
    )
    outages.log_failure(request, response, exc)
    return response


def _unauthorized():
    metrics.REGISTRY_TOKENS.labels("refused").inc()
    return _error(401, "UNAUTHORIZED", "incorrect username or password")


def _locked_out():
    metrics.REGISTRY_TOKENS.labels("locked_out").inc()
    minutes = settings.HUB_LOGIN_LOCKOUT_MINUTES
    return _error(
        429,
        "TOOMANYREQUESTS",
        f"too many failed login attempts; try again in {minutes} minutes",
        headers={"Retry-After": str(minutes * 60)},
    )


def _scopes(values):
    return [scope for value in values for scope in value.split() if scope]


def _refresh_token(actor, client_id):
    """A refresh token that may do no more than ``actor``, or None for a
    build's token (the client then keeps the credentials it logged in with)."""
    if permissions.is_limited_token(actor):
        return None
    token = actor if isinstance(actor, AccessToken) else None
    _, secret = services.refresh_token_create(
        user=permissions.acting_user(actor),
        scope=token.scope if token else AccessToken.Scope.FULL,
        client_id=client_id,
        parent=token,
    )
    return secret


def _issue(actor, scopes):
    user = permissions.acting_user(actor)
    access = token_service.grant(actor, scopes)
    token, claims = registry_tokens.issue(
        subject=user.get_username() if user.is_authenticated else "",
        access=access,
        audience=settings.HUB_REGISTRY_SERVICE,
        access_token_id=actor.pk if isinstance(actor, AccessToken) else None,
    )
    metrics.REGISTRY_TOKENS.labels("granted").inc()
    issued_at = datetime.fromtimestamp(claims["iat"], UTC).isoformat().replace("+00:00", "Z")
    body = {"expires_in": settings.HUB_TOKEN_LIFETIME, "issued_at": issued_at}
    return token, access, body


@csrf_exempt
@require_http_methods(["GET", "POST"])
def token(request):
    try:
        if request.method == "POST":
            return _oauth2(request)
        return _get(request)
    except credentials.LockedOut:
        return _locked_out()
    except credentials.TokenNotAccepted as refused:
        metrics.REGISTRY_TOKENS.labels("refused").inc()
        return _error(401, "UNAUTHORIZED", str(refused))
    except outages.LEFT_TO_DJANGO:
        raise
    except Exception as exc:
        return _failure(request, exc)


def _check(request, username, password):
    return credentials.check(request, username, password, token_kinds=credentials.REGISTRY_TOKENS)


def _get(request):
    actor = AnonymousUser()
    header = request.headers.get("Authorization")
    if header:
        basic = credentials.parse_basic(header)
        actor = basic and _check(request, *basic)
        if not actor:
            return _unauthorized()
    token, _, body = _issue(actor, _scopes(request.GET.getlist("scope")))
    body.update(token=token, access_token=token)
    if request.GET.get("offline_token") == "true" and not permissions.is_anonymous(actor):
        refresh_token = _refresh_token(actor, request.GET.get("client_id", ""))
        if refresh_token:
            body["refresh_token"] = refresh_token
    return JsonResponse(body)


def _oauth2(request):
    form = request.POST
    grant_type = form.get("grant_type")
    if grant_type == "password":
        actor = _check(request, form.get("username", ""), form.get("password", ""))
    elif grant_type == "refresh_token":
        actor = services.access_token_authenticate(
            secret=form.get("refresh_token", ""), kind=AccessToken.Kind.REFRESH
        )
    else:
        return _error(400, "UNSUPPORTED", "grant_type must be password or refresh_token")
    if not actor:
        return _unauthorized()
    token, access, body = _issue(actor, _scopes(form.getlist("scope")))
    body["access_token"] = token
    body["scope"] = " ".join(
        f"{entry['type']}:{entry['name']}:{','.join(entry['actions'])}" for entry in access
    )
    if grant_type == "password" and form.get("access_type") == "offline":
        refresh_token = _refresh_token(actor, form.get("client_id", ""))
        if refresh_token:
            body["refresh_token"] = refresh_token
    elif grant_type == "refresh_token":
        body["refresh_token"] = form["refresh_token"]
    return JsonResponse(body)
