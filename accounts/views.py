"""The account pages: profiles, organizations and teams, settings, access
tokens, and the page a locked-out person sees. Each change calls one service;
what a viewer may see comes from the querysets."""

import math

from axes.helpers import get_cool_off, get_lockout_message
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from repositories.models import Repository, TeamAccess
from repositories.services import team_access_remove, team_access_set

from . import forms, services
from .models import AccessToken, Membership, Namespace, Organization, Team

# Profiles ---------------------------------------------------------------------


def _visible_repositories(request, namespace):
    return (
        Repository.objects.visible_to(request.user)
        .filter(namespace=namespace)
        .select_related("namespace")
        .order_by("-updated_at", "name")
    )


def user_detail(request, username):
    namespace = get_object_or_404(Namespace.objects.select_related("user"), name=username.lower())
    if namespace.kind == Namespace.Kind.ORGANIZATION:
        return redirect("organization-detail", name=namespace.name)
    if namespace.user is None or not namespace.user.is_active:
        raise Http404("No such user.")
    return render(
        request,
        "accounts/user_detail.html",
        {
            "profile_user": namespace.user,
            "namespace": namespace,
            "repositories": _visible_repositories(request, namespace),
            "is_self": request.user == namespace.user,
        },
    )


# Organizations ------------------------------------------------------------------


def _role(organization, user):
    """The viewer's role in ``organization`` (staff count as owners), or None."""
    return services.organization_role(organization=organization, user=user)


def _organization(name):
    return get_object_or_404(Organization.objects.select_related("namespace"), namespace__name=name)


def _organization_as_member(request, name):
    """The organization and the viewer's role; 404 for anyone outside it, so
    its teams and settings stay unknown to them."""
    organization = _organization(name)
    role = _role(organization, request.user)
    if role is None:
        raise Http404("No such organization.")
    return organization, role


def _organization_as_owner(request, name):
    organization, role = _organization_as_member(request, name)
    if role != Membership.Role.OWNER:
        raise PermissionDenied("Only the organization's owners can do this.")
    return organization


def _organization_context(organization, role, tab):
    return {
        "organization": organization,
        "role": role,
        "is_owner": role == Membership.Role.OWNER,
        "is_member": role is not None,
        "tab": tab,
    }


def organization_detail(request, name):
    organization = _organization(name)
    role = _role(organization, request.user)
    context = _organization_context(organization, role, "repositories")
    context["repositories"] = _visible_repositories(request, organization.namespace)
    if role is not None:
        # Who belongs to an organization, and its teams, are for its members.
        context.update(
            memberships=organization.memberships.select_related("user").order_by(
                "-role", "user__username"
            ),
            teams=organization.teams.annotate(member_count=Count("members")).order_by("name"),
        )
    return render(request, "accounts/organization_detail.html", context)


@login_required
def organization_create(request):
    form = forms.OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            organization = services.organization_create(owner=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("name", error)
        else:
            messages.success(request, f"Created the organization {organization.name}.")
            return redirect("organization-detail", name=organization.name)
    return render(request, "accounts/organization_form.html", {"form": form})


@login_required
def organization_members(request, name):
    """The members; owners add people here (POST)."""
    organization, role = _organization_as_member(request, name)
    form = forms.MemberAddForm(request.POST or None)
    if request.method == "POST":
        if role != Membership.Role.OWNER:
            raise PermissionDenied("Only the organization's owners can do this.")
        if form.is_valid():
            user, new_role = form.cleaned_data["user"], form.cleaned_data["role"]
            try:
                services.membership_set(organization=organization, user=user, role=new_role)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"{user.username} is now a {new_role}.")
                return redirect("organization-members", name=organization.name)
    context = _organization_context(organization, role, "members")
    context.update(
        memberships=organization.memberships.select_related("user").order_by(
            "-role", "user__username"
        ),
        form=form,
        role_choices=Membership.Role.choices,
    )
    return render(request, "accounts/membership_list.html", context)


@login_required
@require_POST
def organization_member_update(request, name, username):
    """Change a member's role, or remove them (owners); or leave (anyone)."""
    organization, role = _organization_as_member(request, name)
    membership = get_object_or_404(
        organization.memberships.select_related("user"), user__username=username
    )
    removing = "remove" in request.POST
    leaving = removing and membership.user == request.user
    if role != Membership.Role.OWNER and not leaving:
        raise PermissionDenied("Only the organization's owners can do this.")
    form = forms.MemberRoleForm(request.POST)
    try:
        if removing:
            services.membership_remove(organization=organization, user=membership.user)
        elif form.is_valid():
            services.membership_set(
                organization=organization, user=membership.user, role=form.cleaned_data["role"]
            )
        else:
            _report_errors(request, form)
            return redirect("organization-members", name=organization.name)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("organization-members", name=organization.name)
    if leaving:
        messages.success(request, f"You left {organization.name}.")
        return redirect("organization-detail", name=organization.name)
    if removing:
        messages.success(request, f"{username} is no longer a member.")
    else:
        messages.success(request, f"{username} is now a {form.cleaned_data['role']}.")
    return redirect("organization-members", name=organization.name)


@login_required
def organization_teams(request, name):
    organization, role = _organization_as_member(request, name)
    form = forms.TeamCreateForm(request.POST or None)
    if request.method == "POST":
        if role != Membership.Role.OWNER:
            raise PermissionDenied("Only the organization's owners can do this.")
        if form.is_valid():
            try:
                team = services.team_create(organization=organization, **form.cleaned_data)
            except ValidationError as error:
                form.add_error("name", error)
            else:
                messages.success(request, f"Created the team {team.name}.")
                return redirect("team-detail", name=organization.name, team=team.name)
    context = _organization_context(organization, role, "teams")
    context.update(
        teams=organization.teams.annotate(
            member_count=Count("members", distinct=True),
            repository_count=Count(
                "repository_accesses",
                filter=Q(
                    repository_accesses__repository__in=Repository.objects.visible_to(request.user)
                ),
                distinct=True,
            ),
        ).order_by("name"),
        form=form,
    )
    return render(request, "accounts/team_list.html", context)


@login_required
def organization_settings(request, name):
    organization = _organization_as_owner(request, name)
    initial = {
        "display_name": organization.display_name,
        "description": organization.description,
        "members_can_create_repositories": organization.members_can_create_repositories,
        "default_visibility": organization.namespace.default_visibility,
    }
    form = forms.OrganizationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.organization_update(organization=organization, **form.cleaned_data)
        messages.success(request, "Saved the organization's settings.")
        return redirect("organization-settings", name=organization.name)
    context = _organization_context(organization, Membership.Role.OWNER, "settings")
    context["form"] = form
    return render(request, "accounts/organization_settings.html", context)


# Teams ----------------------------------------------------------------------------


def _team(organization, name):
    return get_object_or_404(Team, organization=organization, name=name)


@login_required
def team_detail(request, name, team):
    organization, role = _organization_as_member(request, name)
    team = _team(organization, team)
    context = _organization_context(organization, role, "teams")
    context.update(
        team=team,
        members=team.members.order_by("username"),
        # A member sees the team's repositories that they may read, no more.
        accesses=team.repository_accesses.filter(
            repository__in=Repository.objects.visible_to(request.user)
        )
        .select_related("repository__namespace")
        .order_by("repository__name"),
        member_form=forms.TeamMemberAddForm(),
        access_form=forms.TeamAccessForm(organization=organization),
    )
    return render(request, "accounts/team_detail.html", context)


def _team_as_owner(request, name, team):
    organization = _organization_as_owner(request, name)
    return organization, _team(organization, team)


def _back_to(team):
    return redirect("team-detail", name=team.organization.name, team=team.name)


@login_required
@require_POST
def team_member_add(request, name, team):
    organization, team = _team_as_owner(request, name, team)
    form = forms.TeamMemberAddForm(request.POST)
    if form.is_valid():
        services.team_member_add(team=team, user=form.cleaned_data["user"])
        messages.success(request, f"Added {form.cleaned_data['user'].username} to {team.name}.")
    else:
        _report_errors(request, form)
    return _back_to(team)


@login_required
@require_POST
def team_member_remove(request, name, team, username):
    organization, team = _team_as_owner(request, name, team)
    user = get_object_or_404(team.members, username=username)
    services.team_member_remove(team=team, user=user)
    messages.success(request, f"Removed {username} from {team.name}.")
    return _back_to(team)


@login_required
@require_POST
def team_access_add(request, name, team):
    organization, team = _team_as_owner(request, name, team)
    form = forms.TeamAccessForm(request.POST, organization=organization)
    if form.is_valid():
        try:
            team_access_set(team=team, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                f"{team.name} has {form.cleaned_data['permission']} access to "
                f"{form.cleaned_data['repository'].name}.",
            )
    else:
        _report_errors(request, form)
    return _back_to(team)


@login_required
@require_POST
def team_access_delete(request, name, team, pk):
    organization, team = _team_as_owner(request, name, team)
    access = get_object_or_404(TeamAccess.objects.select_related("repository"), team=team, pk=pk)
    team_access_remove(team=team, repository=access.repository)
    messages.success(request, f"{team.name} no longer has access to {access.repository.name}.")
    return _back_to(team)


@login_required
@require_POST
def team_delete(request, name, team):
    organization, team = _team_as_owner(request, name, team)
    services.team_delete(team=team)
    messages.success(request, f"Deleted the team {team.name}.")
    return redirect("organization-teams", name=organization.name)


# Settings ----------------------------------------------------------------------------


@login_required
def settings_account(request):
    namespace = request.user.namespace
    form = forms.NamespaceSettingsForm(
        request.POST or None, initial={"default_visibility": namespace.default_visibility}
    )
    if request.method == "POST" and form.is_valid():
        services.namespace_update(namespace=namespace, **form.cleaned_data)
        messages.success(request, "Saved your settings.")
        return redirect("settings-account")
    return render(
        request,
        "accounts/settings_account.html",
        {"form": form, "namespace": namespace},
    )


@login_required
def settings_organizations(request):
    memberships = (
        request.user.memberships.select_related("organization__namespace")
        .annotate(member_count=Count("organization__memberships"))
        .order_by("organization__namespace__name")
    )
    return render(request, "accounts/organization_list.html", {"memberships": memberships})


def _tokens(user):
    tokens = AccessToken.objects.filter(user=user).order_by("-created_at")
    return (
        tokens.filter(kind=AccessToken.Kind.PERSONAL),
        # A registry client makes one at every `docker login`: only the live ones matter.
        tokens.filter(kind=AccessToken.Kind.REFRESH).active(),
    )


@login_required
def access_token_list(request):
    form = forms.AccessTokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.access_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            # The secret is rendered in this response only; nothing keeps it.
            response = render(
                request,
                "accounts/accesstoken_created.html",
                {"token": token, "secret": secret},
                status=201,
            )
            response["Cache-Control"] = "no-store"
            return response
    personal, refresh = _tokens(request.user)
    return render(
        request,
        "accounts/accesstoken_list.html",
        {"form": form, "tokens": personal, "client_logins": refresh},
    )


@login_required
@require_POST
def access_token_revoke(request, pk):
    token = get_object_or_404(AccessToken, pk=pk, user=request.user)
    services.access_token_revoke(token=token)
    if token.kind == AccessToken.Kind.REFRESH:
        messages.success(request, "Signed out that registry client.")
    else:
        messages.success(request, f"Revoked the token “{token.name}”.")
    return redirect("access-token-list")


# Helpers ---------------------------------------------------------------------------------


def _report_errors(request, form):
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


# Lockouts (django-axes) --------------------------------------------------------------------


def _is_registry_request(request):
    return request.path.startswith("/v2/") or request.path == reverse("registry-token")


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out client gets (AXES_LOCKOUT_CALLABLE).

    Registry endpoints answer lockouts themselves (429 with Retry-After, in
    the registry's error format), so their response stands. A person at a
    log-in form gets a page that says how long to wait.
    """
    if _is_registry_request(request):
        if isinstance(original_response, HttpResponseBase):
            return original_response
        return HttpResponse(get_lockout_message(), status=settings.AXES_HTTP_RESPONSE_CODE)
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    response = render(
        request,
        "accounts/lockout.html",
        {"minutes": minutes},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response
