"""Settings that would otherwise fail only when a build runs."""

from django.conf import settings
from django.core import checks

from .builders import BUILDERS

NETWORKS = ("host", "none")


@checks.register(checks.Tags.compatibility)
def build_settings_check(app_configs, **kwargs):
    errors = []
    if settings.HUB_BUILDER not in BUILDERS:
        errors.append(
            checks.Error(
                f"HUB_BUILDER is {settings.HUB_BUILDER!r}.",
                hint=f"Use one of {', '.join(BUILDERS)}.",
                id="builds.E001",
            )
        )
    if settings.HUB_BUILD_NETWORK not in NETWORKS:
        errors.append(
            checks.Error(
                f"HUB_BUILD_NETWORK is {settings.HUB_BUILD_NETWORK!r}.",
                hint=f"Use one of {', '.join(NETWORKS)}.",
                id="builds.E002",
            )
        )
    return errors
