from django.db import connection, models
from django.db.models import Exists, F, OuterRef, Q, Value
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

    def visible_to(self, actor):
        """Repositories ``actor`` may see (the rules of permissions.can): a
        user's are the public ones and the private ones it owns or was given
        access to; an access token sees what its user sees, a build's token
        only its own repository. A repository a push has begun but that has
        no manifest yet is nobody's to see."""
        from accounts.models import AccessToken

        shown = self.filter(is_pending=False)
        if not isinstance(actor, AccessToken):
            return shown._readable_by(actor)
        if not actor.is_active:
            return self.none()
        shown = shown._readable_by(actor.user)
        if actor.repository_name:
            shown = shown.by_full_name(actor.repository_name)
        return shown

    def _readable_by(self, user):
        from accounts.models import Membership, Visibility

        from .models import Collaborator, TeamAccess

        public = Q(visibility=Visibility.PUBLIC)
        if not user.is_authenticated:
            return self.filter(public)
        if user.is_staff:
            return self
        owner = Membership.objects.filter(
            organization__namespace=OuterRef("namespace"), user=user, role=Membership.Role.OWNER
        )
        collaborator = Collaborator.objects.filter(repository=OuterRef("pk"), user=user)
        team = TeamAccess.objects.filter(repository=OuterRef("pk"), team__members=user)
        return self.filter(
            public | Q(namespace__user=user) | Exists(owner) | Exists(collaborator) | Exists(team)
        )

    def starred_by(self, user):
        """Repositories ``user`` starred, the latest star first."""
        return self.filter(stars__user=user).order_by("-stars__created_at", "name")

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
