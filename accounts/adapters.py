from allauth.account.adapter import DefaultAccountAdapter

from . import services
from .names import validate_namespace_name


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up through the web: usernames are namespaces."""

    def clean_username(self, username, shallow=False):
        # Namespaces are lowercase; "Alice" becomes "alice" rather than an error.
        username = username.strip().lower()
        # The namespace rules first: their messages say what a name may be.
        validate_namespace_name(username)
        username = super().clean_username(username, shallow=shallow)
        if not shallow:
            # Organizations and reserved names hold namespaces without a user.
            services.namespace_name_check(name=username)
        return username

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_namespace_create(user=user)
        return user
