from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"

    def ready(self):
        from . import receivers

        receivers.connect()
