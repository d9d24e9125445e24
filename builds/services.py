"""Writes for builds: settings, rules, variables, trigger tokens, the
webhook deliveries and triggers that queue builds, and a build's life from
queued to finished.

A queued build is handed to a worker (``build_run_task`` on the ``builds``
queue) by ``builds_dispatch`` once the namespace's and the repository's
limits allow; until then it waits, with the reason on the page. The worker
moves it through its phases (``builds.pipeline``); ``builds_reap`` fails
builds whose worker has gone.

Messages to the workers are queued once the transaction commits, through
``hub.enqueue``: a broker that is down then is logged, not raised. The rows
are written, and the periodic tasks send what they stand for later
(``builds_reap_task`` the builds, ``repository_webhooks_redispatch_task``
the webhook deliveries)."""

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import crypto
from accounts.providers import ProviderError
from accounts.providers.base import repository_path
from hub import metrics
from hub.enqueue import enqueue_each_on_commit, enqueue_on_commit
from repositories import permissions as repository_permissions
from repositories.services import repository_update

from . import net, notifications, rules
from .models import (
    Build,
    BuildLink,
    BuildLogChunk,
    BuildRule,
    BuildSettings,
    BuildVariable,
    Provider,
    RepositoryWebhook,
    RepositoryWebhookDelivery,
    WebhookDelivery,
)
from .sources import SourceError, source_for
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
def build_settings_create(
    *, repository, provider, source, linked_user=None, default_branch="main", created_by=None
):
    """Configure builds for ``repository`` with the default rule (the default
    branch as ``latest``), a new webhook secret and trigger token, and for an
    ssh git URL a deploy key. Installing the provider's webhook is a
    separate step: it needs Hub's absolute URL and a network call.

    ``created_by`` is whose rights the builds push with."""
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
        created_by=created_by,
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


def _check_rule(source_type, source, docker_tag, dockerfile, context):
    try:
        rules.validate_rule(source_type, source, docker_tag)
    except rules.RuleInvalid as error:
        raise ValidationError(str(error)) from error
    for label, path in (("Dockerfile location", dockerfile), ("build context", context)):
        if not path.strip():
            raise ValidationError(f"The {label} cannot be empty.")
        if ".." in path.replace("\\", "/").split("/"):
            raise ValidationError(
                f"The {label} {path!r} leaves the repository: '..' is not allowed."
            )


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
    """A new rule, after the others unless ``position`` says where. One that
    can never build, or can produce a tag the registry refuses, raises
    ``ValidationError`` with the reason."""
    _check_rule(source_type, source, docker_tag, dockerfile, context)
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
                _build_create(
                    settings=settings,
                    rule=match.rule,
                    tags=match.tags,
                    trigger=trigger,
                    source_type=push.ref_type,
                    source_ref=push.ref_name,
                    commit_sha=push.commit_sha,
                    commit_message=push.commit_message,
                    delivery=delivery,
                )
            )
    if not pushes:
        reasons.append("The event carries no branch or tag push.")
    reason = " ".join(reasons)
    delivery.outcome = WebhookDelivery.Outcome.QUEUED if builds else WebhookDelivery.Outcome.IGNORED
    delivery.reason = reason
    delivery.save(update_fields=["outcome", "reason"])
    return WebhookResult(status="queued" if builds else "ignored", reason=reason, builds=builds)


# A build's life -------------------------------------------------------------


def _build_create(
    *,
    settings,
    rule,
    tags,
    trigger,
    source_type,
    source_ref,
    commit_sha="",
    commit_message="",
    delivery=None,
    requested_by=None,
    linked_from="",
    retry_of=None,
):
    """A queued build, with the rule's values copied, handed to a worker
    once the transaction commits and the limits allow."""
    build = Build.objects.create(
        repository_id=settings.repository_id,
        settings=settings,
        rule=rule,
        delivery=delivery,
        trigger=trigger,
        source_type=source_type,
        source_ref=source_ref,
        commit_sha=commit_sha,
        commit_message=commit_message,
        tags=list(tags),
        dockerfile=rule.dockerfile if rule else "Dockerfile",
        context=rule.context if rule else "/",
        cache=rule.cache if rule else True,
        requested_by=requested_by,
        linked_from=linked_from,
        retry_of=retry_of,
    )
    _dispatch_after_commit()
    return build


def _dispatch_after_commit():
    from .tasks import builds_dispatch_task

    enqueue_on_commit(builds_dispatch_task)


def rule_fixed_ref(rule):
    """The branch or tag a rule names, or None for a /regex/ rule (which has
    no one ref to build on demand)."""
    return None if rules.is_regex(rule.source) else rule.source


@transaction.atomic
def build_trigger(*, rule, user):
    """The Trigger button: build the branch or tag a rule names, now."""
    ref_name = rule_fixed_ref(rule)
    if ref_name is None:
        raise ValidationError(
            f"The rule {rule.source} matches names by a pattern; push a matching "
            "branch or tag, or use the trigger URL with its name."
        )
    matches, problems = rules.match_push([rule], rule.source_type, ref_name)
    if not matches:
        raise ValidationError(" ".join(problems) or "The rule produces no tag.")
    return _build_create(
        settings=rule.settings,
        rule=rule,
        tags=matches[0].tags,
        trigger=Build.Trigger.MANUAL,
        source_type=rule.source_type,
        source_ref=ref_name,
        requested_by=user,
    )


@transaction.atomic
def build_retry(*, build, user):
    """Build the same commit again, as a new build in the timeline."""
    build = Build.objects.get(pk=build.pk)
    if not build.is_finished:
        raise ValidationError("Only a finished build can be run again.")
    return _build_create(
        settings=build.settings,
        rule=build.rule,
        tags=build.tags,
        trigger=Build.Trigger.MANUAL,
        source_type=build.source_type,
        source_ref=build.source_ref,
        commit_sha=build.commit_sha,
        commit_message=build.commit_message,
        requested_by=user,
        retry_of=build,
    )


@transaction.atomic
def build_cancel(*, build, user=None):
    """Cancel a build that has not finished. A running one is stopped by its
    worker, which watches for this at every heartbeat."""
    build = Build.objects.select_for_update().get(pk=build.pk)
    if build.is_finished:
        return build
    who = f" by {user.get_username()}" if user is not None else ""
    _finish(build, Build.Phase.CANCELED, f"Canceled{who}.")
    return build


def _finish(build, phase, reason="", **fields):
    """Move a locked build to a finished phase, note why in its log, and let
    waiting builds go."""
    build.phase = phase
    build.finished_at = timezone.now()
    build.failure_reason = reason if phase != Build.Phase.SUCCESS else ""
    build.waiting_reason = ""
    for name, value in fields.items():
        setattr(build, name, value)
    build.save()
    if reason:
        build_log_append(build=build, text=f"\n{reason}\n")
    transaction.on_commit(partial(metrics.build_finished, phase, build.duration))
    _dispatch_after_commit()


def _active_builds():
    """Builds handed to a worker and not finished."""
    return Build.objects.filter(dispatched_at__isnull=False).exclude(
        phase__in=Build.FINISHED_PHASES
    )


@transaction.atomic
def builds_dispatch():
    """Hand waiting builds to workers, oldest first, while the limits allow:
    HUB_BUILDS_MAX_RUNNING_PER_NAMESPACE builds at once in a namespace, and
    HUB_BUILDS_MAX_QUEUED_PER_REPOSITORY at once for one repository. The
    others keep waiting, with the reason. Returns the builds handed over.

    Waiting builds are locked (and others' locks skipped), so two
    dispatchers never hand the same build over twice."""
    from .tasks import build_run_task

    waiting = list(
        Build.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(phase=Build.Phase.QUEUED, dispatched_at__isnull=True)
        .select_related("repository__namespace")
        .order_by("queued_at", "pk")[:500]
    )
    if not waiting:
        return []
    per_namespace = _counts(_active_builds(), "repository__namespace_id")
    per_repository = _counts(_active_builds(), "repository_id")
    namespace_limit = django_settings.HUB_BUILDS_MAX_RUNNING_PER_NAMESPACE
    repository_limit = django_settings.HUB_BUILDS_MAX_QUEUED_PER_REPOSITORY
    dispatched = []
    now = timezone.now()
    for build in waiting:
        namespace = build.repository.namespace
        if per_repository.get(build.repository_id, 0) >= repository_limit:
            reason = (
                f"Waiting for this repository's earlier build{'s' if repository_limit > 1 else ''}"
                f" to finish (at most {repository_limit} at once)."
            )
        elif per_namespace.get(namespace.pk, 0) >= namespace_limit:
            reason = (
                f"Waiting: {namespace.name} already runs {namespace_limit} "
                f"build{'s' if namespace_limit > 1 else ''}, its limit."
            )
        else:
            reason = ""
            per_repository[build.repository_id] = per_repository.get(build.repository_id, 0) + 1
            per_namespace[namespace.pk] = per_namespace.get(namespace.pk, 0) + 1
            build.dispatched_at = now
            dispatched.append(build)
        if build.waiting_reason != reason or not reason:
            build.waiting_reason = reason
            build.save(update_fields=["waiting_reason", "dispatched_at"])
    # A message the broker does not take leaves its build dispatched and not
    # started, which the reaper hands over again.
    enqueue_each_on_commit(build_run_task, [(build.pk,) for build in dispatched])
    return dispatched


def _counts(queryset, field):
    return {row[field]: row["n"] for row in queryset.values(field).annotate(n=models.Count("pk"))}


@transaction.atomic
def builds_reap():
    """Fail running builds whose worker stopped sending heartbeats (killed,
    out of memory, host gone). Hand over again builds a worker has not
    started a while after they were handed over (a message lost with a
    worker; a second copy is harmless), and fail those that waited past
    HUB_BUILD_QUEUE_TIMEOUT. Returns the builds failed."""
    from .tasks import build_run_task

    now = timezone.now()
    silent = now - timedelta(seconds=django_settings.HUB_BUILD_HEARTBEAT_TIMEOUT)
    stuck = (
        Build.objects.select_for_update(skip_locked=True)
        .exclude(phase__in=(*Build.FINISHED_PHASES, Build.Phase.QUEUED))
        .filter(models.Q(heartbeat_at__lt=silent) | models.Q(heartbeat_at__isnull=True))
    )
    not_started = Build.objects.select_for_update(skip_locked=True).filter(
        phase=Build.Phase.QUEUED,
        dispatched_at__lt=now - timedelta(seconds=django_settings.HUB_BUILD_REDISPATCH_SECONDS),
    )
    queue_timeout = timedelta(seconds=django_settings.HUB_BUILD_QUEUE_TIMEOUT)
    reaped, handed_over = [], []
    for build in stuck:
        _finish(
            build,
            Build.Phase.FAILED,
            f"The worker running this build ({build.worker or 'unknown'}) stopped answering "
            f"during {build.get_phase_display().lower()}; the build was stopped. Retry it "
            "to build again.",
        )
        reaped.append(build)
    for build in not_started:
        if build.queued_at < now - queue_timeout:
            hours = queue_timeout.total_seconds() / 3600
            _finish(
                build,
                Build.Phase.FAILED,
                f"No worker started this build within {hours:g} hours. Is a worker running "
                "for the builds queue?",
            )
            reaped.append(build)
        else:
            build.dispatched_at = now
            build.save(update_fields=["dispatched_at"])
            handed_over.append((build.pk,))
    enqueue_each_on_commit(build_run_task, handed_over)
    return reaped


# The worker's side: claim a build, move it through its phases, finish it.


class BuildGone(Exception):
    """The build was canceled, reaped or taken by someone else meanwhile."""


@transaction.atomic
def build_claim(*, build_id, worker, redelivered=False):
    """Take a dispatched build for ``worker``: queued → cloning. Returns None
    for a build that is not queued any more (canceled or reaped meanwhile,
    or already taken through another copy of the message): it is not run.

    A message the broker ``redelivered`` because its worker died finds its
    build still marked running: the build is failed here with the reason,
    rather than run twice into one log."""
    build = Build.objects.select_for_update().filter(pk=build_id).first()
    if build is None or build.is_finished:
        return None
    if build.phase != Build.Phase.QUEUED:
        if not redelivered:
            return None
        _finish(
            build,
            Build.Phase.FAILED,
            f"The worker running this build ({build.worker or 'unknown'}) stopped during "
            f"{build.get_phase_display().lower()}. Retry it to build again.",
        )
        return None
    now = timezone.now()
    build.phase = Build.Phase.CLONING
    build.cloning_at = now
    build.heartbeat_at = now
    build.worker = worker
    build.waiting_reason = ""
    build.save()
    return build


@transaction.atomic
def build_phase_set(*, build, phase, **fields):
    """Move a running build to ``phase`` (building or pushing), stamping its
    time; raises ``BuildGone`` when it was canceled or reaped meanwhile."""
    locked = Build.objects.select_for_update().get(pk=build.pk)
    if locked.is_finished:
        raise BuildGone(build.pk)
    now = timezone.now()
    locked.phase = phase
    setattr(locked, f"{phase}_at", now)
    locked.heartbeat_at = now
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save()
    return locked


def build_heartbeat(*, build):
    """Say the build's worker is alive; False when the build was canceled or
    reaped meanwhile and should stop."""
    updated = (
        Build.objects.filter(pk=build.pk)
        .exclude(phase__in=Build.FINISHED_PHASES)
        .update(heartbeat_at=timezone.now())
    )
    return updated == 1


@transaction.atomic
def build_finish(*, build, phase, reason="", **fields):
    """End a running build as success or failed. A build canceled or reaped
    meanwhile keeps that end."""
    locked = Build.objects.select_for_update().get(pk=build.pk)
    if locked.is_finished:
        return locked
    _finish(locked, phase, reason, **fields)
    return locked


@transaction.atomic
def build_log_append(*, build, text):
    """Append to a build's log, up to HUB_BUILD_LOG_MAX_BYTES; past that the
    log says it was cut and the rest is dropped. Values of the build's
    variables are masked by the caller before they get here."""
    if not text:
        return
    locked = Build.objects.select_for_update().only("log_size", "log_truncated").get(pk=build.pk)
    if locked.log_truncated:
        return
    limit = django_settings.HUB_BUILD_LOG_MAX_BYTES
    addition = text.encode()
    truncated = locked.log_size + len(addition) > limit
    if truncated:
        room = max(limit - locked.log_size, 0)
        text = addition[:room].decode(errors="ignore") + TRUNCATION_NOTE
        addition = text.encode()
    seq = BuildLogChunk.objects.filter(build_id=build.pk).count()
    BuildLogChunk.objects.create(build_id=build.pk, seq=seq, text=text)
    Build.objects.filter(pk=build.pk).update(
        log_size=locked.log_size + len(addition), log_truncated=truncated
    )


# Repository links ----------------------------------------------------------


@transaction.atomic
def image_pushed_build_links(*, repository_id, tags):
    """Queue builds of every repository linked to the one just pushed: each
    autobuild rule that names a branch builds it again. Returns the builds."""
    from repositories.models import Repository

    upstream = Repository.objects.select_related("namespace").filter(pk=repository_id).first()
    if upstream is None:
        return []
    builds = []
    links = BuildLink.objects.filter(upstream=upstream).select_related("settings")
    for link in links:
        if link.settings.repository_id == repository_id:
            continue  # a repository linked to itself would build forever
        for rule in link.settings.rules.filter(autobuild=True, source_type=rules.BRANCH):
            ref_name = rule_fixed_ref(rule)
            if ref_name is None:
                continue
            matches, _problems = rules.match_push([rule], rules.BRANCH, ref_name)
            if matches:
                builds.append(
                    _build_create(
                        settings=link.settings,
                        rule=rule,
                        tags=matches[0].tags,
                        trigger=Build.Trigger.REPOSITORY_LINK,
                        source_type=rules.BRANCH,
                        source_ref=ref_name,
                        linked_from=f"{upstream.full_name}:{','.join(tags)}",
                    )
                )
    return builds


# Repository webhooks -------------------------------------------------------
#
# A repository's admins set webhooks that Hub notifies after every push, in
# Docker Hub's format (builds.notifications). Each notification is a
# delivery row, sent by ``repository_webhook_deliver_task`` once the push
# has committed, and tried again with backoff (HUB_WEBHOOK_RETRY_DELAYS)
# until it is answered with a 2xx or the attempts run out. The row says when
# its next attempt is due; ``repository_webhooks_redispatch`` sends again
# the ones whose message was lost.

# Deliveries handed over again in one run of the redispatcher, most overdue first.
REDISPATCH_BATCH = 500


def _webhook_url_check(url):
    try:
        net.check_webhook_url(url)
    except net.UnsafeURL as error:
        raise ValidationError({"url": str(error)}) from error


def _encrypted_secret(secret):
    return crypto.encrypt(secret) if secret else ""


@transaction.atomic
def repository_webhook_create(*, repository, name, url, secret="", active=True):
    """A webhook for ``repository``. Its URL must pass the outgoing-address
    guard; the secret, when given, is kept encrypted and never shown again."""
    _webhook_url_check(url)
    return RepositoryWebhook.objects.create(
        repository=repository,
        name=name,
        url=url,
        secret_encrypted=_encrypted_secret(secret),
        active=active,
    )


@transaction.atomic
def repository_webhook_update(*, webhook, name=None, url=None, active=None, secret=None):
    """Change what is given. ``secret=None`` keeps the secret; ``""`` removes it."""
    if url is not None:
        _webhook_url_check(url)
        webhook.url = url
    if name is not None:
        webhook.name = name
    if active is not None:
        webhook.active = active
    if secret is not None:
        webhook.secret_encrypted = _encrypted_secret(secret)
    webhook.save()
    return webhook


@transaction.atomic
def repository_webhook_delete(*, webhook):
    """Delete a webhook with its delivery history; attempts still queued find nothing to send."""
    webhook.delete()


def _delivery_create(*, webhook, event, payload_for):
    """A pending delivery, sent once the transaction commits. Its payload
    names its own callback URL, so the row comes first."""
    from .tasks import repository_webhook_deliver_task

    delivery = RepositoryWebhookDelivery.objects.create(
        webhook=webhook, event=event, payload={}, next_attempt_at=timezone.now()
    )
    delivery.payload = payload_for(notifications.callback_url(delivery.pk))
    delivery.save(update_fields=["payload"])
    enqueue_on_commit(repository_webhook_deliver_task, delivery.pk, 1)
    return delivery


@transaction.atomic
def repository_webhooks_notify(*, repository_id, tags, pusher_id):
    """After a push: one delivery per active webhook and pushed tag (Docker
    Hub sends one notification per tag). Returns the deliveries."""
    from django.contrib.auth import get_user_model

    from repositories.models import Repository, Tag

    repository = Repository.objects.select_related("namespace").filter(pk=repository_id).first()
    if repository is None:
        return []
    webhooks = list(RepositoryWebhook.objects.filter(repository=repository, active=True))
    if not webhooks:
        return []
    pusher = get_user_model().objects.filter(pk=pusher_id).first() if pusher_id else None
    pusher_name = pusher.get_username() if pusher else ""
    pushed_at = dict(
        Tag.objects.filter(repository=repository, name__in=tags).values_list("name", "pushed_at")
    )
    now = timezone.now()
    deliveries = []
    for tag in dict.fromkeys(tags):
        for webhook in webhooks:
            deliveries.append(
                _delivery_create(
                    webhook=webhook,
                    event=notifications.EVENT_PUSH,
                    payload_for=lambda callback_url, tag=tag: notifications.push_payload(
                        repository=repository,
                        tag=tag,
                        pusher=pusher_name,
                        pushed_at=pushed_at.get(tag, now),
                        callback_url=callback_url,
                    ),
                )
            )
    return deliveries


@transaction.atomic
def repository_webhook_test(*, webhook, user):
    """The "Send test" button: a delivery in the push payload's format, for
    the repository's newest tag (or "latest"), marked ``X-Hub-Event: test``."""
    repository = webhook.repository
    newest = repository.tags.order_by("-pushed_at").values_list("name", flat=True).first()
    now = timezone.now()
    return _delivery_create(
        webhook=webhook,
        event=notifications.EVENT_TEST,
        payload_for=lambda callback_url: notifications.push_payload(
            repository=repository,
            tag=newest or "latest",
            pusher=user.get_username(),
            pushed_at=now,
            callback_url=callback_url,
        ),
    )


@dataclass(frozen=True)
class DeliveryAttempt:
    delivery: RepositoryWebhookDelivery
    # Seconds until the next attempt, or None when there is none to make.
    retry_in: float | None


def repository_webhook_deliver(*, delivery_id, attempt=None):
    """Make one attempt at a pending delivery and record how it went.
    Returns a ``DeliveryAttempt``, or None when there is nothing to send: the
    delivery is gone or finished, its attempt is under way elsewhere, or the
    message asks for an attempt that was made already.

    ``attempt`` is the number of the attempt the message was sent for (None:
    whichever comes next). A copy of a message whose attempt was made (a
    duplicate, or one the redispatcher replaced) sends nothing, unless the
    delivery's next attempt is overdue by then.

    After attempt n fails, the next comes HUB_WEBHOOK_RETRY_DELAYS[n-1]
    seconds later; after the last, the delivery is failed.

    Not one transaction: the POST may take HUB_WEBHOOK_TIMEOUT seconds and
    holds no database lock. Instead, the attempt is claimed first by raising
    its count from the value read, so two workers handed the same delivery
    never both send it; the outcome is written after. While the attempt is
    under way its next one is due when this one will be over at the latest,
    so a worker lost mid-attempt leaves the delivery to the redispatcher."""
    pending = RepositoryWebhookDelivery.Status.PENDING
    now = timezone.now()
    delivery = (
        RepositoryWebhookDelivery.objects.select_related("webhook")
        .filter(pk=delivery_id, status=pending)
        .first()
    )
    if delivery is None:
        return None
    number = delivery.attempts + 1
    overdue = delivery.next_attempt_at is not None and delivery.next_attempt_at <= now
    if attempt is not None and attempt != number and not overdue:
        return None
    under_way_until = now + timedelta(seconds=django_settings.HUB_WEBHOOK_TIMEOUT + 60)
    claimed = RepositoryWebhookDelivery.objects.filter(
        pk=delivery.pk, status=pending, attempts=delivery.attempts
    ).update(attempts=number, last_attempt_at=now, next_attempt_at=under_way_until)
    if not claimed:
        return None
    webhook = delivery.webhook
    try:
        secret = webhook.secret
    except crypto.DecryptionError as error:
        result = notifications.AttemptResult(False, None, f"Not sent: {error}")
    else:
        result = notifications.send(
            url=webhook.url,
            payload=delivery.payload,
            event=delivery.event,
            delivery_id=delivery.pk,
            secret=secret,
        )
    delays = django_settings.HUB_WEBHOOK_RETRY_DELAYS
    retry_in = next_attempt_at = None
    if result.delivered:
        status = RepositoryWebhookDelivery.Status.SUCCESS
    elif number > len(delays):
        status = RepositoryWebhookDelivery.Status.FAILED
    else:
        status = pending
        retry_in = delays[number - 1]
        next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
    metrics.WEBHOOK_DELIVERIES.labels(status).inc()
    recorded = RepositoryWebhookDelivery.objects.filter(pk=delivery.pk, attempts=number).update(
        status=status,
        response_status=result.status,
        response_excerpt=result.excerpt,
        next_attempt_at=next_attempt_at,
    )
    if not recorded:
        return None  # the webhook was deleted meanwhile
    delivery.refresh_from_db()
    return DeliveryAttempt(delivery=delivery, retry_in=retry_in)


@transaction.atomic
def repository_webhooks_redispatch():
    """Hand over again the pending deliveries whose next attempt is more than
    HUB_WEBHOOK_REDISPATCH_SECONDS overdue: their message was lost (with the
    broker, or with a worker lost mid-attempt). Each is sent for the attempt
    it waits for, so the lost message turning up after all sends nothing more;
    one still not attempted is handed over again as long after. Returns the
    deliveries' ids."""
    from .tasks import repository_webhook_deliver_task

    now = timezone.now()
    pending = RepositoryWebhookDelivery.Status.PENDING
    overdue = now - timedelta(seconds=django_settings.HUB_WEBHOOK_REDISPATCH_SECONDS)
    lost = list(
        RepositoryWebhookDelivery.objects.select_for_update(skip_locked=True)
        .filter(status=pending, next_attempt_at__lt=overdue)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "attempts")[:REDISPATCH_BATCH]
    )
    if not lost:
        return []
    ids = [pk for pk, _attempts in lost]
    RepositoryWebhookDelivery.objects.filter(
        pk__in=ids, status=pending, next_attempt_at__lt=overdue
    ).update(next_attempt_at=now)
    enqueue_each_on_commit(
        repository_webhook_deliver_task, [(pk, attempts + 1) for pk, attempts in lost]
    )
    return ids


# Configuration -------------------------------------------------------------
#
# What a repository's admins do on its Configure page. Saving and removing the
# configuration talk to GitHub or Bitbucket; those calls run between
# transactions, never inside one, so no row stays locked while a provider
# takes its time to answer.

HOOK_URL_NAMES = {
    Provider.GITHUB: "builds:hook-github",
    Provider.BITBUCKET: "builds:hook-bitbucket",
}
# How many repository links deep a cycle is looked for.
LINK_DEPTH_LIMIT = 50


def build_hook_url(build_settings):
    """The absolute URL GitHub or Bitbucket POSTs pushes to ("" for a git URL)."""
    name = HOOK_URL_NAMES.get(build_settings.provider)
    if name is None:
        return ""
    return django_settings.HUB_URL + reverse(name, args=[build_settings.hook_id])


def build_trigger_url(build_settings, token):
    """The absolute trigger URL with its token; a POST to it starts a build."""
    path = reverse("builds:hook-generic-token", args=[build_settings.hook_id, token])
    return django_settings.HUB_URL + path


def build_settings_save(*, repository, user, provider, source, default_branch="main"):
    """Configure automated builds of ``repository`` from ``source`` as
    ``user``: the settings with the default rule, the provider's push
    webhook (installed with ``user``'s linked account), and the repository's
    automated flag. Returns ``CreatedSettings``, whose trigger token is
    shown once.

    Raises ``ValidationError`` when the source is refused or the provider
    does not install the webhook; nothing is kept then."""
    if BuildSettings.objects.filter(repository=repository).exists():
        raise ValidationError("Automated builds of this repository are configured already.")
    is_provider = provider in HOOK_URL_NAMES
    try:
        created = build_settings_create(
            repository=repository,
            provider=provider,
            source=source,
            linked_user=user if is_provider else None,
            default_branch=default_branch or "main",
            created_by=user,
        )
    except IntegrityError as error:  # saved twice at once
        raise ValidationError(
            "Automated builds of this repository are configured already."
        ) from error
    build_settings = created.settings
    webhook_id = ""
    if is_provider:
        provider_source = source_for(provider)
        try:
            webhook = provider_source.install_webhook(
                user,
                source,
                url=build_hook_url(build_settings),
                secret=build_settings.webhook_secret,
            )
        except (ProviderError, SourceError) as error:
            _build_settings_remove(build_settings=build_settings)
            reason = str(error).rstrip(".")
            raise ValidationError(
                f"{provider_source.name} did not install the webhook for {source}: {reason}. "
                "Nothing was saved."
            ) from error
        webhook_id = webhook.id
    _build_settings_activate(build_settings=build_settings, provider_webhook_id=webhook_id)
    return created


@transaction.atomic
def _build_settings_activate(*, build_settings, provider_webhook_id):
    build_settings.provider_webhook_id = provider_webhook_id
    build_settings.save(update_fields=["provider_webhook_id", "updated_at"])
    repository_update(repository=build_settings.repository, is_automated=True)


def build_settings_delete(*, build_settings):
    """Remove a repository's build configuration: the provider's webhook,
    then the settings with their rules, variables, links and builds, and the
    automated flag. A provider that fails to remove its webhook does not
    keep the configuration; the returned warning says what to remove by
    hand ("" when all went well)."""
    warning = ""
    if build_settings.provider in HOOK_URL_NAMES and build_settings.provider_webhook_id:
        provider_source = source_for(build_settings.provider)
        try:
            provider_source.remove_webhook(
                build_settings.linked_user,
                build_settings.source,
                build_settings.provider_webhook_id,
            )
        except (ProviderError, SourceError) as error:
            warning = (
                f"The webhook on {provider_source.name} could not be removed "
                f"({str(error).rstrip('.')}). "
                f"Remove it from {build_settings.source}'s webhook settings there; Hub "
                "now refuses what it sends."
            )
    _build_settings_remove(build_settings=build_settings)
    return warning


@transaction.atomic
def _build_settings_remove(*, build_settings):
    repository = build_settings.repository
    BuildSettings.objects.filter(pk=build_settings.pk).delete()
    if repository.is_automated:
        repository_update(repository=repository, is_automated=False)


@transaction.atomic
def build_rule_update(
    *, rule, source_type, source, docker_tag, dockerfile, context, autobuild, cache
):
    """Change a rule. One that can never build, or that can produce a tag the
    registry refuses, raises ``ValidationError`` with the reason. Builds
    already queued keep the values they were queued with."""
    _check_rule(source_type, source, docker_tag, dockerfile, context)
    rule.source_type = source_type
    rule.source = source
    rule.docker_tag = docker_tag
    rule.dockerfile = dockerfile
    rule.context = context
    rule.autobuild = autobuild
    rule.cache = cache
    rule.save()
    return rule


@transaction.atomic
def build_rule_delete(*, rule):
    rule.delete()


@transaction.atomic
def build_link_add(*, settings, upstream, user):
    """Build ``settings``' repository whenever ``upstream`` gets a push. The
    user must be able to read ``upstream``; a link that would make two
    repositories build each other forever is refused."""
    repository = settings.repository
    if upstream.pk == repository.pk:
        raise ValidationError("A repository cannot be linked to itself.")
    if not repository_permissions.can(user, upstream, repository_permissions.PULL):
        raise ValidationError(f"You cannot read {upstream.full_name}.")
    if upstream.pk in _downstream_ids(repository.pk):
        raise ValidationError(
            f"{upstream.full_name} is built when {repository.full_name} is pushed; linking "
            "it back would make the two build each other forever."
        )
    link, _created = BuildLink.objects.get_or_create(settings=settings, upstream=upstream)
    return link


def _downstream_ids(repository_id):
    """Every repository a push to ``repository_id`` builds, through links of links."""
    seen, frontier = set(), {repository_id}
    for _depth in range(LINK_DEPTH_LIMIT):
        frontier = (
            set(
                BuildLink.objects.filter(upstream_id__in=frontier).values_list(
                    "settings__repository_id", flat=True
                )
            )
            - seen
        )
        if not frontier:
            break
        seen |= frontier
    return seen


@transaction.atomic
def build_link_remove(*, link):
    link.delete()
