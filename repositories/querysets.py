from django.db import connection, models
from django.db.models import F, Value
from django.db.models.functions import Collate, Concat

from .oci.names import split_name


def _bytewise(expression):
    """Order and compare strings byte by byte ("ASCIIbetical"), as the
    distribution spec asks, whatever the database's locale."""
    if connection.vendor == "postgresql":
        return Collate(expression, "C")
    return expression


class RepositoryQuerySet(models.QuerySet):
    def by_full_name(self, full_name):
        namespace, name = split_name(full_name)
        return self.filter(namespace__name=namespace, name=name)

    def visible_to(self, user):
        """Repositories ``user`` may see. Until accounts carry permissions,
        every repository is public."""
        return self

    def catalog_after(self, last=None):
        """Repositories by full name, after ``last`` when given."""
        repositories = self.select_related("namespace").annotate(
            sort_name=_bytewise(Concat(F("namespace__name"), Value("/"), F("name")))
        )
        if last:
            repositories = repositories.filter(sort_name__gt=last)
        return repositories.order_by("sort_name")


class ManifestQuerySet(models.QuerySet):
    def referrers_of(self, repository, digest, artifact_type=None):
        referrers = self.filter(repository=repository, subject_digest=digest)
        if artifact_type:
            referrers = referrers.filter(artifact_type=artifact_type)
        return referrers.order_by("created_at", "id")


class TagQuerySet(models.QuerySet):
    def page(self, repository, *, last=None):
        tags = self.filter(repository=repository).annotate(sort_name=_bytewise(F("name")))
        if last:
            tags = tags.filter(sort_name__gt=last)
        return tags.order_by("sort_name")
