from django.urls import path

from . import notification_views, webhooks

app_name = "builds"

urlpatterns = [
    path("hooks/<uuid:hook_id>/github", webhooks.github_hook, name="hook-github"),
    path("hooks/<uuid:hook_id>/bitbucket", webhooks.bitbucket_hook, name="hook-bitbucket"),
    path("hooks/<uuid:hook_id>/generic", webhooks.generic_hook, name="hook-generic"),
    path(
        "hooks/<uuid:hook_id>/generic/<str:token>", webhooks.generic_hook, name="hook-generic-token"
    ),
    # Repository webhooks (notifications after a push), under the repository's settings.
    path(
        "r/<str:namespace>/<path:name>/webhooks/<int:webhook_id>/delete/",
        notification_views.webhook_delete,
        name="webhook-delete",
    ),
    path(
        "r/<str:namespace>/<path:name>/webhooks/<int:webhook_id>/test/",
        notification_views.webhook_test,
        name="webhook-test",
    ),
    path(
        "r/<str:namespace>/<path:name>/webhooks/<int:webhook_id>/",
        notification_views.webhook_detail,
        name="webhook-detail",
    ),
    path(
        "r/<str:namespace>/<path:name>/webhooks/",
        notification_views.webhook_list,
        name="webhook-list",
    ),
    path(
        "webhook-callbacks/<int:delivery_id>/<str:token>/",
        notification_views.webhook_callback,
        name="webhook-callback",
    ),
]
