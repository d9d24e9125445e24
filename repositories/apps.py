from django.apps import AppConfig


class RepositoriesConfig(AppConfig):
    name = "repositories"

    def ready(self):
        from . import receivers

        receivers.connect()
