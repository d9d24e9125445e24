"""A repository's build pages: the Builds tab (the timeline and a chart of
recent builds), a build's page with its log streamed live, and the
Configure page where admins pick the source and set rules, variables, the
trigger URL and repository links.

Someone who cannot read the repository gets 404 on every page, as if it did
not exist (``Repository.objects.visible_to``). Configuring, triggering,
canceling and retrying need admin permission (403 for other readers).
Every change calls one service."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings as django_settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.providers import ProviderError
from repositories import permissions
from repositories.models import Repository
from repositories.views import repository_administered, repository_context, repository_readable

from . import forms, services
from .models import Build, BuildSettings, Provider
from .sources import SourceError, source_for

BUILDS_PAGE_SIZE = 25
CHART_BUILDS = 30
CHART_BAR_WIDTH, CHART_GAP, CHART_HEIGHT = 12, 3, 64
LINKED_PROVIDERS = (Provider.GITHUB, Provider.BITBUCKET)
RUNNING_PHASES = (Build.Phase.CLONING, Build.Phase.BUILDING, Build.Phase.PUSHING)
# A build's phases in order, with the field holding when each began.
PHASE_STEPS = (
    (Build.Phase.QUEUED, "queued_at"),
    (Build.Phase.CLONING, "cloning_at"),
    (Build.Phase.BUILDING, "building_at"),
    (Build.Phase.PUSHING, "pushing_at"),
)


def _require_admin(request, repository):
    if not permissions.can(request.user, repository, permissions.ADMIN):
        raise PermissionDenied("Only the repository's admins can configure and run its builds.")


def _build_settings_of(repository):
    return BuildSettings.objects.filter(repository=repository).first()


def _configured(repository):
    build_settings = _build_settings_of(repository)
    if build_settings is None:
        raise Http404("Automated builds of this repository are not configured.")
    return build_settings


def _configure_url(repository, anchor=""):
    url = reverse("build-configure", args=[repository.namespace.name, repository.name])
    return f"{url}#{anchor}" if anchor else url


def _build_url(build):
    repository = build.repository
    return reverse("build-detail", args=[repository.namespace.name, repository.name, build.pk])


# Durations and the chart ------------------------------------------------------


def format_duration(delta):
    """``1h 4m``, ``3m 12s`` or ``8s``; "" for None."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


def elapsed(build, now):
    """How long the build ran (or has been running), from the start of its clone."""
    if build.duration is not None:
        return build.duration
    if build.cloning_at is not None and not build.is_finished:
        return now - build.cloning_at
    return None


def outcome(build):
    """The colour group of a build: success, failed, canceled, running or queued."""
    if build.phase in RUNNING_PHASES:
        return "running"
    return build.phase


@dataclass
class BuildRow:
    """A build as the timeline shows it."""

    build: Build
    elapsed: str
    commit_title: str
    running: bool


def build_row(build, now):
    message_lines = build.commit_message.strip().splitlines()
    return BuildRow(
        build=build,
        elapsed=format_duration(elapsed(build, now)),
        commit_title=message_lines[0] if message_lines else "",
        running=build.phase in RUNNING_PHASES,
    )


def build_chart(builds, *, now):
    """The durations of ``builds`` (oldest first) as SVG bars coloured by
    outcome, the newest at the right."""
    step = CHART_BAR_WIDTH + CHART_GAP
    timed = [(build, elapsed(build, now)) for build in builds]
    peak = max((delta.total_seconds() for _, delta in timed if delta is not None), default=0)
    offset = CHART_BUILDS - len(timed)
    bars = []
    for index, (build, delta) in enumerate(timed):
        seconds = delta.total_seconds() if delta is not None else 0
        height = max(2, round(seconds / peak * CHART_HEIGHT)) if seconds and peak else 2
        bars.append(
            {
                "build": build,
                "outcome": outcome(build),
                "duration": format_duration(delta),
                "x": (offset + index) * step,
                "y": CHART_HEIGHT - height,
                "width": CHART_BAR_WIDTH,
                "height": height,
            }
        )
    return {
        "bars": bars,
        "count": len(bars),
        "peak": format_duration(timedelta(seconds=peak)) if peak else "",
        "width": CHART_BUILDS * step - CHART_GAP,
        "height": CHART_HEIGHT,
        "outcomes": sorted({bar["outcome"] for bar in bars}),
    }


# The Builds tab ---------------------------------------------------------------


@require_GET
def build_list(request, namespace, name):
    repository = repository_readable(request, namespace, name)
    now = timezone.now()
    builds = repository.builds.select_related("requested_by").order_by("-queued_at", "-pk")
    page = Paginator(builds, BUILDS_PAGE_SIZE).get_page(request.GET.get("page"))
    recent = list(builds[:CHART_BUILDS])
    context = repository_context(request, repository, "builds")
    context.update(
        build_settings=_build_settings_of(repository),
        page=page,
        rows=[build_row(build, now) for build in page.object_list],
        chart=build_chart(list(reversed(recent)), now=now) if recent else None,
    )
    return render(request, "builds/build_list.html", context)


# A build's page and its log ---------------------------------------------------------


def _build(repository, build_id):
    return get_object_or_404(
        repository.builds.select_related("requested_by", "retry_of", "repository__namespace"),
        pk=build_id,
    )


def phase_steps(build):
    """Each phase with when it began, and whether it is done, current, yet
    to come, or skipped (a build canceled or failed before reaching it)."""
    steps = []
    for phase, field in PHASE_STEPS:
        at = getattr(build, field)
        if build.phase == phase:
            state = "current"
        elif at is not None:
            state = "done"
        else:
            state = "skipped" if build.is_finished else "pending"
        steps.append({"label": Build.Phase(phase).label, "at": at, "state": state})
    if build.is_finished:
        steps.append({"label": build.get_phase_display(), "at": build.finished_at, "state": "end"})
    else:
        steps.append({"label": "Finished", "at": None, "state": "pending"})
    return steps


def _status_context(request, repository, build):
    return {
        "build": build,
        "row": build_row(build, timezone.now()),
        "steps": phase_steps(build),
        "outcome": outcome(build),
        "can_admin": permissions.can(request.user, repository, permissions.ADMIN),
    }


def _log_after(build, after_seq):
    """The log's text after chunk ``after_seq``, and the last chunk's seq."""
    chunks = list(
        build.log_chunks.filter(seq__gt=after_seq).order_by("seq").values_list("seq", "text")
    )
    last_seq = chunks[-1][0] if chunks else after_seq
    return "".join(text for _, text in chunks), last_seq


@require_GET
def build_detail(request, namespace, name, build_id):
    repository = repository_readable(request, namespace, name)
    # The build before its log: a build that finishes in between is then
    # shown running with its whole log, and the next poll ends it.
    build = _build(repository, build_id)
    log, last_seq = _log_after(build, -1)
    context = repository_context(request, repository, "builds")
    context.update(_status_context(request, repository, build))
    context.update(log=log, last_seq=last_seq)
    return render(request, "builds/build_detail.html", context)


@require_GET
def build_log(request, namespace, name, build_id):
    """What the build page polls while the build runs: the log's chunks after
    ``?after=<seq>``, the build's status, and the next poller, which does
    not poll any more once the build has finished."""
    repository = repository_readable(request, namespace, name)
    build = _build(repository, build_id)
    try:
        after_seq = max(-1, int(request.GET.get("after", -1)))
    except ValueError:
        after_seq = -1
    text, last_seq = _log_after(build, after_seq)
    context = _status_context(request, repository, build)
    context.update(repository=repository, text=text, last_seq=last_seq)
    response = render(request, "builds/build_log.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def build_cancel(request, namespace, name, build_id):
    repository = repository_administered(request, namespace, name)
    build = _build(repository, build_id)
    if build.is_finished:
        messages.info(request, f"Build #{build.pk} had finished already.")
    else:
        services.build_cancel(build=build, user=request.user)
        messages.success(request, f"Canceled build #{build.pk}.")
    return redirect(_build_url(build))


@require_POST
def build_retry(request, namespace, name, build_id):
    repository = repository_administered(request, namespace, name)
    build = _build(repository, build_id)
    try:
        retry = services.build_retry(build=build, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(_build_url(build))
    messages.success(request, f"Queued build #{retry.pk}, a retry of build #{build.pk}.")
    return redirect(_build_url(retry))


# Configure ---------------------------------------------------------------------


@dataclass
class ProviderChoice:
    """A linked provider's repositories to build from, or why there are none."""

    provider: str
    name: str
    linked: bool
    error: str = ""
    form: forms.ProviderSourceForm | None = None


def provider_choice(user, provider, data=None):
    source = source_for(provider)
    try:
        repositories = source.list_repositories(user)
    except SourceError:
        return ProviderChoice(provider=provider, name=source.name, linked=False)
    except ProviderError as error:
        return ProviderChoice(
            provider=provider,
            name=source.name,
            linked=True,
            error=f"{source.name} did not list your repositories: {error}",
        )
    form = forms.ProviderSourceForm(data, repositories=repositories, prefix=provider)
    return ProviderChoice(provider=provider, name=source.name, linked=True, form=form)


def _configure_page(
    request,
    repository,
    build_settings,
    *,
    trigger_token="",
    provider_choices=None,
    git_form=None,
    rule_forms=None,
    new_rule_form=None,
    variable_form=None,
    link_form=None,
):
    """The Configure page, with any bound forms (and their errors) in place
    of the blank ones."""
    context = repository_context(request, repository, "builds")
    context["build_settings"] = build_settings
    if build_settings is None:
        provider_choices = provider_choices or {}
        context.update(
            providers=[
                provider_choices.get(provider) or provider_choice(request.user, provider)
                for provider in LINKED_PROVIDERS
            ],
            git_form=git_form or forms.GitSourceForm(prefix="git"),
        )
        return render(request, "builds/buildsettings_form.html", context)
    rule_forms = rule_forms or {}
    rule_rows = [
        {
            "rule": rule,
            "form": rule_forms.get(rule.pk) or forms.BuildRuleForm.for_rule(rule),
            "triggerable": services.rule_fixed_ref(rule) is not None,
        }
        for rule in build_settings.rules.all()
    ]
    hook_id = build_settings.hook_id
    context.update(
        rule_rows=rule_rows,
        new_rule_form=new_rule_form or forms.BuildRuleForm(prefix="new-rule"),
        # Names only: a variable's value never comes back to a page.
        variable_names=list(
            build_settings.variables.order_by("name").values_list("name", flat=True)
        ),
        variable_form=variable_form or forms.BuildVariableForm(prefix="variable"),
        links=build_settings.links.select_related("upstream__namespace").order_by(
            "upstream__namespace__name", "upstream__name"
        ),
        link_form=link_form or forms.BuildLinkForm(prefix="link"),
        hook_url=services.build_hook_url(build_settings),
        provider_name=build_settings.get_provider_display(),
        trigger_token=trigger_token,
        trigger_url=services.build_trigger_url(build_settings, trigger_token)
        if trigger_token
        else "",
        trigger_url_without_token=(
            django_settings.HUB_URL + reverse("builds:hook-generic", args=[hook_id]) + "/"
        ),
    )
    return render(request, "builds/buildsettings_form.html", context)


@require_http_methods(["GET", "POST"])
def build_configure(request, namespace, name):
    """GET: the Configure page. POST: configure builds from the chosen source."""
    repository = repository_readable(request, namespace, name)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    _require_admin(request, repository)
    build_settings = _build_settings_of(repository)
    if request.method == "GET":
        return _configure_page(request, repository, build_settings)
    if build_settings is not None:
        messages.info(request, "Automated builds of this repository are configured already.")
        return redirect(_configure_url(repository))
    provider = request.POST.get("provider")
    if provider == Provider.GIT:
        return _configure_from_git(request, repository)
    if provider in LINKED_PROVIDERS:
        return _configure_from_provider(request, repository, provider)
    messages.error(request, "Choose GitHub, Bitbucket or a git URL.")
    return redirect(_configure_url(repository))


def _configure_from_git(request, repository):
    form = forms.GitSourceForm(request.POST, prefix="git")
    if form.is_valid():
        try:
            created = services.build_settings_save(
                repository=repository,
                user=request.user,
                provider=Provider.GIT,
                source=form.cleaned_data["url"],
                default_branch=form.cleaned_data["default_branch"],
            )
        except ValidationError as error:
            form.add_error("url", error)
        else:
            return _configured_page(request, repository, created)
    return _configure_page(request, repository, None, git_form=form)


def _configure_from_provider(request, repository, provider):
    choice = provider_choice(request.user, provider, data=request.POST)
    if choice.form is not None and choice.form.is_valid():
        picked = choice.form.cleaned_data["repository"]
        try:
            created = services.build_settings_save(
                repository=repository,
                user=request.user,
                provider=provider,
                source=picked.full_name,
                default_branch=picked.default_branch or "main",
            )
        except ValidationError as error:
            choice.form.add_error(None, error)
        else:
            return _configured_page(request, repository, created)
    return _configure_page(request, repository, None, provider_choices={provider: choice})


def _configured_page(request, repository, created):
    build_settings = created.settings
    messages.success(
        request,
        f"Automated builds of {repository.full_name} are configured from {build_settings.source}.",
    )
    return _configure_page(request, repository, build_settings, trigger_token=created.trigger_token)


@require_POST
def build_settings_delete(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    warning = services.build_settings_delete(build_settings=build_settings)
    messages.success(request, f"Automated builds of {repository.full_name} are removed.")
    if warning:
        messages.warning(request, warning)
    return redirect("repository-builds", namespace=namespace, name=name)


@require_POST
def build_trigger_token_regenerate(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    token = services.build_trigger_token_regenerate(settings=build_settings)
    messages.success(request, "Here is the new trigger URL. The old one no longer starts builds.")
    return _configure_page(request, repository, build_settings, trigger_token=token)


@require_POST
def build_rule_add(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    form = forms.BuildRuleForm(request.POST, prefix="new-rule")
    if form.is_valid():
        try:
            rule = services.build_rule_create(settings=build_settings, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Added the rule {rule.source} → {rule.docker_tag}.")
            return redirect(_configure_url(repository, "rules"))
    return _configure_page(request, repository, build_settings, new_rule_form=form)


@require_POST
def build_rule_update(request, namespace, name, rule_id):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    rule = get_object_or_404(build_settings.rules, pk=rule_id)
    form = forms.BuildRuleForm.for_rule(rule, request.POST)
    if form.is_valid():
        try:
            services.build_rule_update(rule=rule, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Saved the rule {rule.source} → {rule.docker_tag}.")
            return redirect(_configure_url(repository, "rules"))
    # What the database holds, beside the form with what was typed.
    rule.refresh_from_db()
    return _configure_page(request, repository, build_settings, rule_forms={rule.pk: form})


@require_POST
def build_rule_delete(request, namespace, name, rule_id):
    repository = repository_administered(request, namespace, name)
    rule = get_object_or_404(_configured(repository).rules, pk=rule_id)
    services.build_rule_delete(rule=rule)
    messages.success(request, f"Removed the rule {rule.source} → {rule.docker_tag}.")
    return redirect(_configure_url(repository, "rules"))


@require_POST
def build_rule_trigger(request, namespace, name, rule_id):
    """The Trigger button: build the branch or tag the rule names, now."""
    repository = repository_administered(request, namespace, name)
    rule = get_object_or_404(_configured(repository).rules, pk=rule_id)
    try:
        build = services.build_trigger(rule=rule, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(_configure_url(repository, "rules"))
    messages.success(request, f"Queued build #{build.pk} of the {rule.source_type} {rule.source}.")
    return redirect(_build_url(build))


@require_POST
def build_variable_set(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    form = forms.BuildVariableForm(request.POST, prefix="variable")
    if form.is_valid():
        variable_name = form.cleaned_data["name"]
        try:
            services.build_variable_set(
                settings=build_settings, name=variable_name, value=form.cleaned_data["value"]
            )
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(
                request, f"Set the variable {variable_name}. Its value is not shown again."
            )
            return redirect(_configure_url(repository, "variables"))
    return _configure_page(request, repository, build_settings, variable_form=form)


@require_POST
def build_variable_delete(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    variable_name = request.POST.get("name", "")
    services.build_variable_delete(settings=build_settings, name=variable_name)
    messages.success(request, f"Deleted the variable {variable_name}.")
    return redirect(_configure_url(repository, "variables"))


@require_POST
def build_link_add(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    build_settings = _configured(repository)
    form = forms.BuildLinkForm(request.POST, prefix="link")
    if form.is_valid():
        full_name = form.cleaned_data["repository"]
        # One answer for a repository that does not exist and one the user
        # cannot read, so that the form tells nothing about private ones.
        upstream = (
            Repository.objects.visible_to(request.user)
            .by_full_name(full_name)
            .select_related("namespace")
            .first()
        )
        if upstream is None:
            form.add_error("repository", f"There is no repository {full_name} that you can read.")
        else:
            try:
                services.build_link_add(
                    settings=build_settings, upstream=upstream, user=request.user
                )
            except ValidationError as error:
                form.add_error("repository", error)
            else:
                messages.success(
                    request, f"A push to {upstream.full_name} now builds {repository.full_name}."
                )
                return redirect(_configure_url(repository, "links"))
    return _configure_page(request, repository, build_settings, link_form=form)


@require_POST
def build_link_remove(request, namespace, name, link_id):
    repository = repository_administered(request, namespace, name)
    link = get_object_or_404(
        _configured(repository).links.select_related("upstream__namespace"), pk=link_id
    )
    services.build_link_remove(link=link)
    messages.success(request, f"Removed the link to {link.upstream.full_name}.")
    return redirect(_configure_url(repository, "links"))
