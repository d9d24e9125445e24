"""A repository's settings pages, for the people with admin permission on it.
Anyone who cannot read the repository gets 404, as if it did not exist."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import UserField

from . import immutability, services
from .forms import ImmutableTagRuleForm
from .models import Permission
from .views import immutable_tags_context, is_htmx, repository_administered


class CollaboratorForm(forms.Form):
    user = UserField()
    permission = forms.ChoiceField(choices=Permission.choices, initial=Permission.READ)


class CollaboratorPermissionForm(forms.Form):
    permission = forms.ChoiceField(choices=Permission.choices)


@login_required
def collaborator_list(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    form = CollaboratorForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.cleaned_data["user"]
        try:
            services.collaborator_set(repository=repository, **form.cleaned_data)
        except ValidationError as error:
            form.add_error("user", error)
        else:
            messages.success(
                request,
                f"{user.username} has {form.cleaned_data['permission']} access "
                f"to {repository.full_name}.",
            )
            return redirect("repository-collaborators", namespace=namespace, name=name)
    return render(
        request,
        "repositories/collaborator_list.html",
        {
            "repository": repository,
            "form": form,
            "collaborators": repository.collaborators.select_related("user").order_by(
                "user__username"
            ),
            "team_accesses": repository.team_accesses.select_related(
                "team__organization__namespace"
            ).order_by("team__name"),
            "permission_choices": Permission.choices,
        },
    )


@login_required
@require_POST
def collaborator_update(request, namespace, name, username):
    """Change a collaborator's permission, or remove them."""
    repository = repository_administered(request, namespace, name)
    collaborator = get_object_or_404(
        repository.collaborators.select_related("user"), user__username=username
    )
    if "remove" in request.POST:
        services.collaborator_remove(repository=repository, user=collaborator.user)
        messages.success(request, f"{username} is no longer a collaborator.")
    else:
        form = CollaboratorPermissionForm(request.POST)
        if form.is_valid():
            services.collaborator_set(
                repository=repository,
                user=collaborator.user,
                permission=form.cleaned_data["permission"],
            )
            messages.success(
                request, f"{username} has {form.cleaned_data['permission']} access now."
            )
        else:
            messages.error(request, "Choose read, write or admin.")
    return redirect("repository-collaborators", namespace=namespace, name=name)


# Immutable tags ---------------------------------------------------------------------


def _immutable_tags_answer(request, repository, form=None):
    """htmx gets the section back; a plain form goes back to the settings page."""
    if is_htmx(request):
        return render(
            request,
            "includes/immutable_tag_rules.html",
            immutable_tags_context(repository, form),
        )
    return redirect(
        "repository-settings", namespace=repository.namespace.name, name=repository.name
    )


@login_required
@require_POST
def immutable_tag_rule_add(request, namespace, name):
    repository = repository_administered(request, namespace, name)
    form = ImmutableTagRuleForm(request.POST)
    if form.is_valid():
        try:
            immutability.rule_create(
                repository=repository,
                pattern=form.cleaned_data["pattern"],
                creator=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"Tags matching {form.cleaned_data['pattern']} are immutable now."
            )
            return _immutable_tags_answer(request, repository)
    if not is_htmx(request):
        for error in form.errors.get("pattern", []) + form.non_field_errors():
            messages.error(request, error)
    return _immutable_tags_answer(request, repository, form)


@login_required
@require_POST
def immutable_tag_rule_delete(request, namespace, name, pk):
    repository = repository_administered(request, namespace, name)
    rule = get_object_or_404(repository.immutable_tag_rules, pk=pk)
    immutability.rule_delete(rule=rule)
    messages.success(request, f"Removed the rule {rule.pattern}.")
    return _immutable_tags_answer(request, repository)
