"""Forms of the build pages. They only check input; the services decide
(a rule's tags, a git URL's host, a variable's name)."""

from django import forms

from .models import SourceType

NO_AUTOFILL = {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}


class ProviderSourceForm(forms.Form):
    """A repository of the user's linked GitHub or Bitbucket account."""

    repository = forms.ChoiceField(label="Repository")

    def __init__(self, *args, repositories, **kwargs):
        super().__init__(*args, **kwargs)
        self.repositories = {repository.full_name: repository for repository in repositories}
        self.fields["repository"].choices = [
            (name, f"{name} (private)" if repository.private else name)
            for name, repository in self.repositories.items()
        ]

    def clean_repository(self):
        return self.repositories[self.cleaned_data["repository"]]


class GitSourceForm(forms.Form):
    url = forms.CharField(
        label="Git URL",
        max_length=1000,
        help_text=(
            "https://git.example.com/team/app.git, or ssh: git@git.example.com:team/app.git "
            "(Hub then makes a deploy key for you to add on the git server)."
        ),
        widget=forms.TextInput(attrs={**NO_AUTOFILL, "placeholder": "https://…/app.git"}),
    )
    default_branch = forms.CharField(
        max_length=255,
        required=False,
        initial="main",
        help_text="The default rule builds it as latest (main when left empty).",
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )

    def clean_url(self):
        return self.cleaned_data["url"].strip()


class BuildRuleForm(forms.Form):
    source_type = forms.ChoiceField(label="Source type", choices=SourceType.choices)
    source = forms.CharField(
        max_length=255,
        help_text="A branch or tag name, or a /regex/ the whole name must match.",
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    docker_tag = forms.CharField(
        label="Docker tag",
        max_length=255,
        initial="latest",
        help_text=r"Comma-separated: a name, {sourceref}, or a capture {\1}…{\9}.",
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    dockerfile = forms.CharField(
        label="Dockerfile location",
        max_length=1000,
        initial="Dockerfile",
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    context = forms.CharField(
        label="Build context",
        max_length=1000,
        initial="/",
        widget=forms.TextInput(attrs=NO_AUTOFILL),
    )
    autobuild = forms.BooleanField(label="Autobuild", required=False, initial=True)
    cache = forms.BooleanField(label="Build caching", required=False, initial=True)

    def clean_source(self):
        return self.cleaned_data["source"].strip()

    @classmethod
    def for_rule(cls, rule, data=None):
        initial = {
            name: getattr(rule, name)
            for name in (
                "source_type",
                "source",
                "docker_tag",
                "dockerfile",
                "context",
                "autobuild",
                "cache",
            )
        }
        return cls(data, initial=initial, prefix=f"rule-{rule.pk}")


class BuildVariableForm(forms.Form):
    name = forms.CharField(max_length=255, widget=forms.TextInput(attrs=NO_AUTOFILL))
    # Write-only: a value typed once is never put back into the page.
    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )

    def clean_name(self):
        return self.cleaned_data["name"].strip()


class BuildLinkForm(forms.Form):
    repository = forms.CharField(
        label="Repository",
        max_length=512,
        help_text="A Hub repository you can read, such as library/busybox.",
        widget=forms.TextInput(attrs={**NO_AUTOFILL, "placeholder": "library/busybox"}),
    )

    def clean_repository(self):
        return self.cleaned_data["repository"].strip().strip("/")
