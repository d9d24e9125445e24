"""The forms of the account pages. They check what a person typed; the
services decide, and raise ValidationError with a message for the form."""

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.utils import timezone

from repositories.models import Permission, Repository

from . import services
from .models import AccessToken, Membership, Visibility

# Tokens live at most this long (access_token_create allows a day more, for
# the time zones between a person's "a year from today" and UTC).
TOKEN_MAX_DAYS = 365


class UserField(forms.CharField):
    """A username, cleaned to the User it names."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 150)
        kwargs.setdefault("label", "Username")
        super().__init__(**kwargs)
        self.widget.attrs.update(autocomplete="off", autocapitalize="none", spellcheck="false")

    def clean(self, value):
        username = super().clean(value).strip().lower()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no user called “{username}”.", code="unknown")
        return user


def _default_visibility_field():
    return forms.ChoiceField(
        choices=Visibility.choices,
        widget=forms.RadioSelect,
        label="Default visibility of new repositories",
        help_text="What a repository created by a push gets. Each one can be changed later.",
    )


class NamespaceSettingsForm(forms.Form):
    default_visibility = _default_visibility_field()


class AccessTokenCreateForm(forms.Form):
    EXPIRY_CHOICES = [
        ("none", "No expiry"),
        ("30", "30 days"),
        ("90", "90 days"),
        ("custom", "On a date I choose"),
    ]

    name = forms.CharField(
        max_length=100,
        label="Description",
        help_text="What the token is for, e.g. “CI pipeline” or “laptop”.",
    )
    scope = forms.ChoiceField(
        choices=AccessToken.Scope.choices,
        initial=AccessToken.Scope.READ,
        widget=forms.RadioSelect,
        label="Access permissions",
    )
    expiry = forms.ChoiceField(
        choices=EXPIRY_CHOICES, initial="30", widget=forms.RadioSelect, label="Expires"
    )
    expires_on = forms.DateField(
        required=False,
        label="Expiry date",
        help_text="At most a year from today; the token expires at the end of that day (UTC).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["expires_on"].widget.attrs.update(
            min=(today + timedelta(days=1)).isoformat(),
            max=(today + timedelta(days=TOKEN_MAX_DAYS)).isoformat(),
        )

    def clean(self):
        cleaned = super().clean()
        expiry = cleaned.get("expiry")
        if expiry == "custom":
            expires_on = cleaned.get("expires_on")
            today = timezone.localdate()
            if expires_on is None:
                if "expires_on" not in self.errors:
                    self.add_error("expires_on", "Choose the date the token expires.")
            elif expires_on <= today:
                self.add_error("expires_on", "Choose a date after today.")
            elif expires_on > today + timedelta(days=TOKEN_MAX_DAYS):
                self.add_error(
                    "expires_on",
                    "A token may live at most a year: choose a date no later than "
                    f"{(today + timedelta(days=TOKEN_MAX_DAYS)).isoformat()}.",
                )
        return cleaned

    def expires_at(self):
        """The moment the token stops working, or None."""
        expiry = self.cleaned_data["expiry"]
        if expiry == "none":
            return None
        if expiry == "custom":
            end_of_day = datetime.combine(self.cleaned_data["expires_on"], time.max)
            return timezone.make_aware(end_of_day.replace(microsecond=0))
        return timezone.now() + timedelta(days=int(expiry))


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(
        max_length=30,
        help_text="The namespace of its repositories: lowercase letters, digits, and "
        "single dots, dashes or underscores between them.",
    )
    display_name = forms.CharField(max_length=255, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(autocapitalize="none", spellcheck="false")

    def clean_name(self):
        name = self.cleaned_data["name"].strip().lower()
        services.namespace_name_check(name=name)
        return name


class OrganizationSettingsForm(forms.Form):
    display_name = forms.CharField(max_length=255, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    members_can_create_repositories = forms.BooleanField(
        required=False,
        label="Members can create repositories",
        help_text="Off: only owners (and teams given write access) can push new repositories.",
    )
    default_visibility = _default_visibility_field()


class MemberAddForm(forms.Form):
    user = UserField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


TEAM_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z",
    "Use letters, digits, dots, dashes and underscores; start with a letter or digit.",
)


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100, validators=[TEAM_NAME])
    description = forms.CharField(max_length=255, required=False)


class TeamMemberAddForm(forms.Form):
    user = UserField()


class TeamAccessForm(forms.Form):
    """A team's permission on one repository of its organization."""

    repository = forms.ModelChoiceField(queryset=None, empty_label=None)
    permission = forms.ChoiceField()

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["repository"].queryset = Repository.objects.filter(
            namespace=organization.namespace, is_pending=False
        ).order_by("name")
        self.fields["repository"].label_from_instance = lambda repository: repository.name
        self.fields["permission"].choices = Permission.choices
