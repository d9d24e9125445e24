from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"

    def ready(self):
        from . import checks, receivers  # noqa: F401  (checks register themselves)

        receivers.connect()
