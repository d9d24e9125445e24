from allauth.account.adapter import DefaultAccountAdapter

from . import services


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up through the web: usernames are namespaces."""

    def clean_username(self, username, shallow=False):
        username = super().clean_username(username, shallow=shallow)
        services.namespace_name_check(name=username)
        return username

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_namespace_create(user=user)
        return user
