"""Forms of the repository pages. They only check input; the services decide."""

from django import forms

from accounts.models import Namespace, Visibility

from . import permissions
from .models import ImmutableTagRule


class RepositoryCreateForm(forms.Form):
    namespace = forms.ModelChoiceField(
        queryset=Namespace.objects.none(), empty_label=None, to_field_name="name"
    )
    name = forms.CharField(
        max_length=255,
        help_text="Lowercase letters and digits, separated by dots, dashes or underscores.",
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices, widget=forms.RadioSelect, initial=Visibility.PUBLIC
    )
    description = forms.CharField(max_length=255, required=False, help_text="One line, optional.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["namespace"].queryset = creatable_namespaces(user)
        self.fields["name"].widget.attrs.update(
            autocomplete="off", autocapitalize="none", spellcheck="false"
        )


def creatable_namespaces(user):
    """The user's own namespace and the organizations ``user`` may create in."""
    organizations = Namespace.objects.filter(kind=Namespace.Kind.ORGANIZATION)
    if not user.is_staff:
        organizations = organizations.filter(organization__memberships__user=user)
    allowed = [user.namespace.pk]
    allowed += [
        namespace.pk
        for namespace in organizations.select_related("organization").distinct()
        if permissions.can_create_in(user, namespace)
    ]
    return Namespace.objects.filter(pk__in=allowed).order_by("-kind", "name")


class RepositorySettingsForm(forms.Form):
    description = forms.CharField(max_length=255, required=False)
    full_description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text="Markdown. Shown on the Overview tab.",
    )
    visibility = forms.ChoiceField(choices=Visibility.choices, widget=forms.RadioSelect)


class RepositoryDeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the repository's full name to confirm")

    def __init__(self, *args, repository, **kwargs):
        super().__init__(*args, **kwargs)
        self.repository = repository
        self.fields["confirm"].widget.attrs.update(
            autocomplete="off", autocapitalize="none", spellcheck="false"
        )

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip()
        if value != self.repository.full_name:
            raise forms.ValidationError(
                f"Type {self.repository.full_name} exactly to delete it.", code="mismatch"
            )
        return value


class ImmutableTagRuleForm(forms.ModelForm):
    class Meta:
        model = ImmutableTagRule
        fields = ["pattern"]
        labels = {"pattern": "Tag pattern"}
        help_texts = {
            "pattern": (
                "A glob matching the whole tag, such as <code>v*</code> or "
                "<code>release-*</code>, or a regular expression between slashes, such as "
                r"<code>/^\d+\.\d+\.\d+$/</code>."
            )
        }
        widgets = {
            "pattern": forms.TextInput(
                attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
            )
        }
