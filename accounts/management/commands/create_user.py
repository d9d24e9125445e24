from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import services


class Command(BaseCommand):
    help = "Create a user (with its namespace), e.g. for scripts and tests."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", required=True)
        parser.add_argument("--staff", action="store_true", help="make the user staff")

    def handle(self, *args, username, email, password, staff, **options):
        try:
            services.namespace_name_check(name=username)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        user = get_user_model().objects.create_user(
            username, email, password, is_staff=staff, is_superuser=staff
        )
        self.stdout.write(f"Created user {user.username}.")
