from django.urls import path

from . import notification_views, views, webhooks

app_name = "builds"

urlpatterns = [
    path("hooks/<uuid:hook_id>/github", webhooks.github_hook, name="hook-github"),
    path("hooks/<uuid:hook_id>/bitbucket", webhooks.bitbucket_hook, name="hook-bitbucket"),
    path("hooks/<uuid:hook_id>/generic", webhooks.generic_hook, name="hook-generic"),
    path(
        "hooks/<uuid:hook_id>/generic/<str:token>", webhooks.generic_hook, name="hook-generic-token"
    ),
    path(
        "webhook-callbacks/<int:delivery_id>/<str:token>/",
        notification_views.webhook_callback,
        name="webhook-callback",
    ),
]

# A repository's build pages, under /r/<namespace>/<name>/builds/. hub/urls.py
# includes them at the site's root, ahead of the repository pages, whose
# <path:name> would take "app/builds" for a repository's name otherwise.
_BUILDS = "r/<str:namespace>/<path:name>/builds"
_CONFIGURE = f"{_BUILDS}/configure"
# Repository webhooks (notifications after a push), under the repository's settings.
_WEBHOOKS = "r/<str:namespace>/<path:name>/settings/webhooks"

portal_urlpatterns = [
    path(f"{_WEBHOOKS}/", notification_views.webhook_list, name="webhook-list"),
    path(
        f"{_WEBHOOKS}/<int:webhook_id>/", notification_views.webhook_detail, name="webhook-detail"
    ),
    path(
        f"{_WEBHOOKS}/<int:webhook_id>/delete/",
        notification_views.webhook_delete,
        name="webhook-delete",
    ),
    path(
        f"{_WEBHOOKS}/<int:webhook_id>/test/",
        notification_views.webhook_test,
        name="webhook-test",
    ),
    path(f"{_BUILDS}/", views.build_list, name="repository-builds"),
    path(f"{_BUILDS}/<int:build_id>/", views.build_detail, name="build-detail"),
    path(f"{_BUILDS}/<int:build_id>/log", views.build_log, name="build-log"),
    path(f"{_BUILDS}/<int:build_id>/cancel/", views.build_cancel, name="build-cancel"),
    path(f"{_BUILDS}/<int:build_id>/retry/", views.build_retry, name="build-retry"),
    path(f"{_CONFIGURE}/", views.build_configure, name="build-configure"),
    path(f"{_CONFIGURE}/delete/", views.build_settings_delete, name="build-settings-delete"),
    path(
        f"{_CONFIGURE}/trigger-token/",
        views.build_trigger_token_regenerate,
        name="build-trigger-token",
    ),
    path(f"{_CONFIGURE}/rules/", views.build_rule_add, name="build-rule-add"),
    path(f"{_CONFIGURE}/rules/<int:rule_id>/", views.build_rule_update, name="build-rule-update"),
    path(
        f"{_CONFIGURE}/rules/<int:rule_id>/delete/",
        views.build_rule_delete,
        name="build-rule-delete",
    ),
    path(
        f"{_CONFIGURE}/rules/<int:rule_id>/trigger/",
        views.build_rule_trigger,
        name="build-rule-trigger",
    ),
    path(f"{_CONFIGURE}/variables/", views.build_variable_set, name="build-variable-set"),
    path(
        f"{_CONFIGURE}/variables/delete/",
        views.build_variable_delete,
        name="build-variable-delete",
    ),
    path(f"{_CONFIGURE}/links/", views.build_link_add, name="build-link-add"),
    path(
        f"{_CONFIGURE}/links/<int:link_id>/delete/",
        views.build_link_remove,
        name="build-link-remove",
    ),
]
