from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    pass


class Namespace(models.Model):
    """The first component of a repository name. Users and organizations
    share one space of names, so each owns exactly one row here."""

    class Kind(models.TextChoices):
        USER = "user"
        ORGANIZATION = "organization"

    name = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ORGANIZATION)
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="namespace"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name
