"""The repository pages of the portal: explore, search, a repository's tabs,
creating one, and stars. Reads come from Repository.objects.visible_to(), so
a private repository its viewer cannot read is a 404 like a missing one;
every change calls one service."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import forms, immutability, permissions, services
from .markup import render_markdown
from .models import Repository, Star
from .oci.names import DEFAULT_NAMESPACE
from .search import SORTS, search_repositories

HOME_LIST_SIZE = 6
SEARCH_PAGE_SIZE = 20
CHART_DAYS = 30
CHART_BAR_WIDTH, CHART_GAP, CHART_HEIGHT = 12, 3, 64


def _visible(request):
    return Repository.objects.visible_to(request.user).select_related("namespace")


def repository_readable(request, namespace, name):
    """The repository, or 404 when it does not exist or the viewer cannot read it."""
    return get_object_or_404(_visible(request), namespace__name=namespace, name=name)


def repository_administered(request, namespace, name):
    """The repository, as ``repository_readable``; 403 for a reader who is not its admin."""
    repository = repository_readable(request, namespace, name)
    if not permissions.can(request.user, repository, permissions.ADMIN):
        raise PermissionDenied("Only the repository's admins can do this.")
    return repository


def is_htmx(request):
    return request.headers.get("HX-Request") == "true"


def _starred_ids(user, repositories):
    if not user.is_authenticated:
        return set()
    return set(
        Star.objects.filter(user=user, repository__in=[r.pk for r in repositories]).values_list(
            "repository_id", flat=True
        )
    )


# Explore -------------------------------------------------------------------------


def home(request):
    visible = _visible(request)
    return render(
        request,
        "repositories/home.html",
        {
            "official_repositories": visible.filter(is_official=True).order_by(
                "-star_count", "name"
            )[:HOME_LIST_SIZE],
            "starred_repositories": visible.filter(star_count__gt=0).order_by(
                "-star_count", "-pull_count", "name"
            )[:HOME_LIST_SIZE],
            "pulled_repositories": visible.filter(pull_count__gt=0).order_by(
                "-pull_count", "-star_count", "name"
            )[:HOME_LIST_SIZE],
            "recent_repositories": visible.order_by("-updated_at", "name")[:HOME_LIST_SIZE],
        },
    )


def _flag(value):
    """A filter from the query string: "1" is True, "0" False, else no filter."""
    return {"1": True, "0": False}.get(value)


def search(request):
    query = request.GET.get("q", "").strip()[:200]
    sort = request.GET.get("sort", "best")
    if sort not in SORTS:
        sort = "best"
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    official = _flag(request.GET.get("official"))
    automated = _flag(request.GET.get("automated"))
    found = search_repositories(
        query=query,
        actor=request.user,
        official=official,
        automated=automated,
        sort=sort,
        page=page,
        page_size=SEARCH_PAGE_SIZE,
    )
    return render(
        request,
        "repositories/repository_search.html",
        {
            "query": query,
            "found": found,
            "sort": sort,
            "sorts": [
                ("best", "Best match"),
                ("stars", "Most stars"),
                ("pulls", "Most pulls"),
                ("updated", "Recently updated"),
            ],
            "official": official,
            "automated": automated,
            "page": page,
            "pages": _page_window(page, found.num_pages),
            "starred_ids": _starred_ids(request.user, found.results),
        },
    )


def _page_window(page, num_pages, width=2):
    """Page numbers around ``page``, with None for a gap: 1 … 4 5 [6] 7 8 … 20."""
    shown = {1, num_pages, *range(page - width, page + width + 1)}
    pages, previous = [], 0
    for number in sorted(n for n in shown if 1 <= n <= num_pages):
        if number - previous > 1:
            pages.append(None)
        pages.append(number)
        previous = number
    return pages


# A repository --------------------------------------------------------------------


def _pull_name(repository):
    """The name ``docker pull`` takes: library images go without "library/"."""
    if repository.namespace.name == DEFAULT_NAMESPACE:
        return repository.name
    return repository.full_name


def repository_context(request, repository, tab):
    """What every tab of a repository's page needs: its header, with the
    star button and the tabs (``tab`` is the current one). Tabs that other
    apps serve use it too."""
    can_admin = permissions.can(request.user, repository, permissions.ADMIN)
    return {
        "repository": repository,
        "tab": tab,
        "can_admin": can_admin,
        "starred": bool(_starred_ids(request.user, [repository])),
        "pull_name": _pull_name(repository),
    }


def pull_chart(repository, *, days=CHART_DAYS, today=None):
    """Daily pulls over the last ``days`` days (today included), as SVG bars."""
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    counts = dict(
        repository.pull_days.filter(day__gte=start, day__lte=today).values_list("day", "count")
    )
    peak = max(counts.values(), default=0)
    step = CHART_BAR_WIDTH + CHART_GAP
    bars = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        count = counts.get(day, 0)
        height = max(2, round(count / peak * CHART_HEIGHT)) if count else 1
        bars.append(
            {
                "day": day,
                "count": count,
                "x": offset * step,
                "y": CHART_HEIGHT - height,
                "width": CHART_BAR_WIDTH,
                "height": height,
            }
        )
    return {
        "bars": bars,
        "total": sum(counts.values()),
        "peak": peak,
        "width": days * step - CHART_GAP,
        "height": CHART_HEIGHT,
        "start": start,
        "end": today,
    }


def repository_detail(request, namespace, name):
    repository = repository_readable(request, namespace, name)
    context = repository_context(request, repository, "overview")
    context.update(
        full_description=render_markdown(repository.full_description),
        chart=pull_chart(repository),
        tag_count=repository.tags.count(),
    )
    return render(request, "repositories/repository_detail.html", context)


def library_detail(request, name):
    return repository_detail(request, DEFAULT_NAMESPACE, name)


def repository_tags(request, namespace, name):
    repository = repository_readable(request, namespace, name)
    context = repository_context(request, repository, "tags")
    tags = list(repository.tags.select_related("manifest").order_by("-pushed_at", "name"))
    protected = immutability.immutable_tags(repository, [tag.name for tag in tags])
    for tag in tags:
        tag.immutable_rule = protected.get(tag.name)
    context["tags"] = tags
    return render(request, "repositories/tag_list.html", context)


@require_POST
def tag_delete(request, namespace, name, tag):
    repository = repository_administered(request, namespace, name)
    try:
        deleted = services.tag_delete(repository=repository, name=tag)
    except services.TagImmutable as exc:
        if is_htmx(request):
            return HttpResponse(str(exc), status=403, content_type="text/plain")
        messages.error(request, str(exc))
        return redirect("repository-tags", namespace=namespace, name=name)
    if is_htmx(request):
        return HttpResponse("")  # the row is swapped for nothing
    if deleted:
        messages.success(request, f"Deleted the tag {tag}.")
    return redirect("repository-tags", namespace=namespace, name=name)


def immutable_tags_context(repository, form=None):
    """What the settings page's "Immutable tags" section shows."""
    rules = list(immutability.rules_for(repository))
    return {
        "repository": repository,
        "rule_form": form or forms.ImmutableTagRuleForm(),
        "repository_rules": [rule for rule in rules if rule.repository_id],
        "namespace_rules": [rule for rule in rules if rule.namespace_id],
    }


def _settings_page(request, repository, form, delete_form):
    context = repository_context(request, repository, "settings")
    context.update(immutable_tags_context(repository), form=form, delete_form=delete_form)
    return render(request, "repositories/repository_settings.html", context)


def repository_settings(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    initial = {
        "description": repository.description,
        "full_description": repository.full_description,
        "visibility": repository.visibility,
    }
    form = forms.RepositorySettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.repository_update(repository=repository, **form.cleaned_data)
        messages.success(request, "Saved the repository's settings.")
        return redirect("repository-settings", namespace=namespace, name=name)
    return _settings_page(
        request, repository, form, forms.RepositoryDeleteForm(repository=repository)
    )


@require_POST
def repository_delete(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    delete_form = forms.RepositoryDeleteForm(request.POST, repository=repository)
    if not delete_form.is_valid():
        initial = {
            "description": repository.description,
            "full_description": repository.full_description,
            "visibility": repository.visibility,
        }
        form = forms.RepositorySettingsForm(initial=initial)
        return _settings_page(request, repository, form, delete_form)
    full_name = repository.full_name
    services.repository_delete(repository=repository)
    messages.success(request, f"Deleted the repository {full_name}.")
    return redirect("user-detail", username=namespace)


@login_required
def repository_create(request):
    form = forms.RepositoryCreateForm(
        request.POST or None,
        user=request.user,
        initial={"namespace": request.GET.get("namespace") or request.user.namespace.name},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            repository = services.repository_create(
                namespace=data["namespace"],
                name=data["name"],
                visibility=data["visibility"],
                description=data["description"],
                creator=request.user,
            )
        except services.RepositoryInvalid as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Created the repository {repository.full_name}.")
            return redirect(repository_url(repository))
    return render(request, "repositories/repository_form.html", {"form": form})


def repository_url(repository):
    return reverse("repository-detail", args=[repository.namespace.name, repository.name])


# Stars ------------------------------------------------------------------------------


@require_POST
def star(request, namespace, name):
    """Star (action=star) or unstar (action=unstar); both are idempotent. An
    htmx request gets the updated button back, a plain form a redirect."""
    repository = repository_readable(request, namespace, name)
    if not request.user.is_authenticated:
        login = f"{resolve_url(settings.LOGIN_URL)}?next={repository_url(repository)}"
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = login
            return response
        return redirect_to_login(repository_url(repository))
    if request.POST.get("action") == "unstar":
        services.star_remove(user=request.user, repository=repository)
        starred = False
    else:
        services.star_add(user=request.user, repository=repository)
        starred = True
    if is_htmx(request):
        repository.refresh_from_db(fields=["star_count"])
        return render(
            request,
            "includes/star_button.html",
            {"repository": repository, "starred": starred},
        )
    next_url = request.POST.get("next")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = repository_url(repository)
    return redirect(next_url)
