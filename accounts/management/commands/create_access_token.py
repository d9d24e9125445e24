from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts import services
from accounts.models import AccessToken


class Command(BaseCommand):
    help = "Create a personal access token and print its secret (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line")
        parser.add_argument("--scope", choices=AccessToken.Scope.values, default="read")
        parser.add_argument("--days", type=int, help="expire after this many days")

    def handle(self, *args, username, name, scope, days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user called {username}.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        _, secret = services.access_token_create(
            user=user, name=name, scope=scope, expires_at=expires_at
        )
        self.stdout.write(secret)
