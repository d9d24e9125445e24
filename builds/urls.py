from django.urls import path

from . import webhooks

app_name = "builds"

urlpatterns = [
    path("hooks/<uuid:hook_id>/github", webhooks.github_hook, name="hook-github"),
    path("hooks/<uuid:hook_id>/bitbucket", webhooks.bitbucket_hook, name="hook-bitbucket"),
    path("hooks/<uuid:hook_id>/generic", webhooks.generic_hook, name="hook-generic"),
    path(
        "hooks/<uuid:hook_id>/generic/<str:token>", webhooks.generic_hook, name="hook-generic-token"
    ),
]
