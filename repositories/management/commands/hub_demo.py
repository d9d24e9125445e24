from django.core.management.base import BaseCommand, CommandError

from repositories.demo import create_demo
from repositories.models import Repository


class Command(BaseCommand):
    help = "Fill an empty hub with demo users, an organization and images."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="localhost:8000", help="host shown in READMEs")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if any repository exists"
        )

    def handle(self, *args, host, if_empty, **options):
        if Repository.objects.exists():
            if if_empty:
                return
            raise CommandError("This hub already has repositories; the demo needs an empty one.")
        made = create_demo(host=host)
        names = ", ".join(repository.full_name for repository in made)
        self.stdout.write(f"Demo content created: {names}.")
