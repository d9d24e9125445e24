"""The one place that answers who may do what to a repository.

Every registry request, page and API call asks ``can()``; the registry's
token service asks it before it grants a scope. An actor is a user (maybe
anonymous) or an access token, whose scope caps what its user may do.
"""

from django.contrib.auth.models import AnonymousUser

from accounts.models import AccessToken, Membership, Namespace, Visibility

from .models import Collaborator, Permission, Repository, TeamAccess

PULL = "pull"
PUSH = "push"
DELETE = "delete"
ACTIONS = (PULL, PUSH, DELETE)

_RANK = {None: 0, Permission.READ: 1, Permission.WRITE: 2, Permission.ADMIN: 3}
_NEEDED = {PULL: Permission.READ, PUSH: Permission.WRITE, DELETE: Permission.ADMIN}
_TOKEN_ALLOWS = {
    AccessToken.Scope.READ: {PULL},
    AccessToken.Scope.WRITE: {PULL, PUSH},
    AccessToken.Scope.DELETE: {PULL, PUSH, DELETE},
}


def _user_and_cap(actor, target):
    if isinstance(actor, AccessToken):
        if actor.repository_name and not (
            isinstance(target, Repository) and target.full_name == actor.repository_name
        ):
            # A token limited to one repository is nobody anywhere else.
            return AnonymousUser(), _TOKEN_ALLOWS[actor.scope]
        return actor.user, _TOKEN_ALLOWS[actor.scope]
    return actor, set(ACTIONS)


def permission_on(user, repository):
    """The highest Permission ``user`` holds on ``repository``, or None."""
    granted = Permission.READ if repository.visibility == Visibility.PUBLIC else None
    if not user.is_authenticated:
        return granted
    if user.is_staff or _owns(user, repository.namespace):
        return Permission.ADMIN
    levels = [granted]
    levels += Collaborator.objects.filter(repository=repository, user=user).values_list(
        "permission", flat=True
    )
    levels += TeamAccess.objects.filter(repository=repository, team__members=user).values_list(
        "permission", flat=True
    )
    return max(levels, key=lambda level: _RANK[level])


def _owns(user, namespace):
    if namespace.kind == Namespace.Kind.USER:
        return namespace.user_id == user.pk
    return Membership.objects.filter(
        organization__namespace=namespace, user=user, role=Membership.Role.OWNER
    ).exists()


def can_create_in(user, namespace):
    """Whether ``user`` may create repositories in ``namespace`` (None: a
    namespace that does not exist yet, which only staff may bring about)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    if namespace is None:
        return False
    if _owns(user, namespace):
        return True
    return (
        namespace.kind == Namespace.Kind.ORGANIZATION
        and namespace.organization.members_can_create_repositories
        and Membership.objects.filter(organization__namespace=namespace, user=user).exists()
    )


def can(actor, target, action):
    """Whether ``actor`` may take ``action`` on ``target``: a Repository, or
    for one that does not exist yet, the Namespace it would live in (or None
    when that namespace does not exist either)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    user, cap = _user_and_cap(actor, target)
    if action not in cap:
        return False
    if isinstance(target, Repository):
        return _RANK[permission_on(user, target)] >= _RANK[_NEEDED[action]]
    # A repository that does not exist yet: who may create it may push to it
    # and read what it pushed.
    return action in (PULL, PUSH) and can_create_in(user, target)


def allowed_actions(actor, target):
    return [action for action in ACTIONS if can(actor, target, action)]
