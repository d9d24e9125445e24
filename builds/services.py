"""Writes for builds: settings, rules, variables, trigger tokens, and the
webhook deliveries that queue builds.

Builds are queued here and stay ``queued`` until the pipeline (Celery
tasks on the ``builds`` queue) lands; nothing is enqueued yet."""

import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import crypto
from accounts.providers.base import repository_path

from . import net, rules
from .models import Build, BuildRule, BuildSettings, BuildVariable, Provider, WebhookDelivery
from .sources.base import token_hash

TRUNCATION_NOTE = "\n[log truncated: HUB_BUILD_LOG_MAX_BYTES reached]\n"


def new_secret():
    return secrets.token_urlsafe(32)


def deploy_key_generate(*, comment):
    """A new ed25519 key pair: the OpenSSH public line and the private key in OpenSSH PEM."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{public} {comment}", private


def _check_source(provider, source):
    if provider not in Provider.values:
        raise ValidationError(f"The source provider must be one of {', '.join(Provider.values)}.")
    if provider == Provider.GIT:
        try:
            net.check_git_url(source)
        except net.UnsafeURL as error:
            raise ValidationError(str(error)) from error
    else:
        try:
            repository_path(source)
        except ValueError as error:
            raise ValidationError(str(error)) from error


@dataclass
class CreatedSettings:
    settings: BuildSettings
    # Shown once: Hub keeps only its hash.
    trigger_token: str


@transaction.atomic
def build_settings_create(*, repository, provider, source, linked_user=None, default_branch="main"):
    """Configure builds for ``repository`` with the default rule (the default
    branch as ``latest``), a new webhook secret and trigger token, and for an
    ssh git URL a deploy key. Installing the provider's webhook is a
    separate step: it needs Hub's absolute URL and a network call."""
    _check_source(provider, source)
    if provider != Provider.GIT and linked_user is None:
        raise ValidationError(
            "A GitHub or Bitbucket source needs the user whose account is linked."
        )
    trigger_token = new_secret()
    public_key = private_key = ""
    if provider == Provider.GIT and net.is_ssh_url(source):
        public_key, private_key = deploy_key_generate(comment=f"hub-deploy-{repository.full_name}")
    build_settings = BuildSettings.objects.create(
        repository=repository,
        provider=provider,
        source=source,
        default_branch=default_branch,
        linked_user=linked_user if provider != Provider.GIT else None,
        webhook_secret_encrypted=crypto.encrypt(new_secret()),
        trigger_token_hash=token_hash(trigger_token),
        deploy_key_public=public_key,
        deploy_key_private_encrypted=crypto.encrypt(private_key) if private_key else "",
    )
    default = rules.default_rule(default_branch)
    BuildRule.objects.create(
        settings=build_settings,
        source_type=default.source_type,
        source=default.source,
        docker_tag=default.docker_tag,
    )
    return CreatedSettings(settings=build_settings, trigger_token=trigger_token)


@transaction.atomic
def build_trigger_token_regenerate(*, settings):
    """A new trigger token; the old one stops working. Returns the token, shown once."""
    token = new_secret()
    settings.trigger_token_hash = token_hash(token)
    settings.save(update_fields=["trigger_token_hash", "updated_at"])
    return token


@transaction.atomic
def build_rule_create(
    *,
    settings,
    source_type,
    source,
    docker_tag,
    dockerfile="Dockerfile",
    context="/",
    autobuild=True,
    cache=True,
    position=None,
):
    try:
        rules.validate_rule(source_type, source, docker_tag)
    except rules.RuleInvalid as error:
        raise ValidationError(str(error)) from error
    if position is None:
        position = settings.rules.count()
    return BuildRule.objects.create(
        settings=settings,
        position=position,
        source_type=source_type,
        source=source,
        docker_tag=docker_tag,
        dockerfile=dockerfile,
        context=context,
        autobuild=autobuild,
        cache=cache,
    )


@transaction.atomic
def build_variable_set(*, settings, name, value):
    """Set a build variable; its value is kept encrypted and never shown again."""
    if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise ValidationError(
            "A variable name is letters, digits and '_', not starting with a digit."
        )
    variable, _ = BuildVariable.objects.update_or_create(
        settings=settings, name=name, defaults={"value_encrypted": crypto.encrypt(value)}
    )
    return variable


@transaction.atomic
def build_variable_delete(*, settings, name):
    BuildVariable.objects.filter(settings=settings, name=name).delete()


@dataclass
class WebhookResult:
    status: str  # "queued", "ignored" or "duplicate"
    reason: str = ""
    builds: list = field(default_factory=list)

    def as_json(self):
        return {
            "status": self.status,
            "reason": self.reason,
            "builds": [
                {"id": build.pk, "source_ref": build.source_ref, "tags": build.tags}
                for build in self.builds
            ],
        }


@transaction.atomic
def webhook_receive(*, settings, kind, event, delivery_id, pushes, trigger=Build.Trigger.WEBHOOK):
    """Record a verified delivery and queue a build for each rule a push
    matches. A delivery id seen before queues nothing: the unique
    (settings, delivery id) row is the gate, so two copies of one delivery
    arriving at once still build once."""
    delivery_id = delivery_id[:255]
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                settings=settings,
                delivery_id=delivery_id,
                kind=kind,
                event=event[:64],
                outcome=WebhookDelivery.Outcome.IGNORED,
            )
    except IntegrityError:
        if WebhookDelivery.objects.filter(settings=settings, delivery_id=delivery_id).exists():
            return WebhookResult(
                status="duplicate", reason=f"Delivery {delivery_id} was received before."
            )
        raise

    # A webhook builds only rules with autobuild on; a trigger URL builds any rule.
    candidates = list(settings.rules.all())
    if trigger == Build.Trigger.WEBHOOK:
        candidates = [rule for rule in candidates if rule.autobuild]
    builds, reasons = [], []
    for push in pushes:
        if push.deleted:
            reasons.append(f"The {push.ref_type} {push.ref_name} was deleted; nothing to build.")
            continue
        matches, problems = rules.match_push(candidates, push.ref_type, push.ref_name)
        reasons.extend(problems)
        if not matches and not problems:
            reasons.append(f"No build rule matches the {push.ref_type} {push.ref_name}.")
        queued_tag_sets = set()
        for match in matches:
            tag_set = frozenset(match.tags)
            if tag_set in queued_tag_sets:
                continue
            queued_tag_sets.add(tag_set)
            builds.append(
                Build.objects.create(
                    repository_id=settings.repository_id,
                    settings=settings,
                    rule=match.rule,
                    delivery=delivery,
                    trigger=trigger,
                    source_type=push.ref_type,
                    source_ref=push.ref_name,
                    commit_sha=push.commit_sha,
                    commit_message=push.commit_message,
                    tags=list(match.tags),
                    dockerfile=match.rule.dockerfile,
                    context=match.rule.context,
                    cache=match.rule.cache,
                )
            )
    if not pushes:
        reasons.append("The event carries no branch or tag push.")
    reason = " ".join(reasons)
    delivery.outcome = WebhookDelivery.Outcome.QUEUED if builds else WebhookDelivery.Outcome.IGNORED
    delivery.reason = reason
    delivery.save(update_fields=["outcome", "reason"])
    # Builds stay queued until the build pipeline exists to enqueue them.
    return WebhookResult(status="queued" if builds else "ignored", reason=reason, builds=builds)


@transaction.atomic
def build_log_append(*, build, text):
    """Append to a build's log, up to HUB_BUILD_LOG_MAX_BYTES; past that the
    log says it was cut and the rest is dropped."""
    build = Build.objects.select_for_update().get(pk=build.pk)
    if build.log_truncated:
        return build
    limit = django_settings.HUB_BUILD_LOG_MAX_BYTES
    current = len(build.log.encode())
    addition = text.encode()
    if current + len(addition) > limit:
        room = max(limit - current, 0)
        build.log += addition[:room].decode(errors="ignore") + TRUNCATION_NOTE
        build.log_truncated = True
    else:
        build.log += text
    build.save(update_fields=["log", "log_truncated"])
    return build
