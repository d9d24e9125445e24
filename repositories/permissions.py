"""The one place that answers who may do what to a repository.

Every check asks about the caller, an *actor*: a user (maybe anonymous) or the
access token the caller presented. A token acts for its user, capped by its
scope; a token limited to one repository (a build's) pushes and pulls there
and may only pull, through the registry, what its user may read elsewhere.
Every registry request, page and API call asks ``can()``, every listing
filters with ``Repository.objects.visible_to(actor)``, and the registry's
token service asks ``can()`` before it grants a scope.

There is deliberately no public "permission of this user" helper: handed a
token's user, it would forget the token's scope.
"""

from django.contrib.auth.models import AnonymousUser

from accounts.models import AccessToken, Membership, Namespace, Visibility

from .models import Collaborator, Permission, Repository, TeamAccess

PULL = "pull"
PUSH = "push"  # push images and move tags
DELETE = "delete"  # delete tags, manifests, blobs and the repository
ADMIN = "admin"  # change settings: visibility, descriptions, access, webhooks, builds
# What a registry token may grant (Docker's token scopes).
REGISTRY_ACTIONS = (PULL, PUSH, DELETE)
ACTIONS = (*REGISTRY_ACTIONS, ADMIN)

_RANK = {None: 0, Permission.READ: 1, Permission.WRITE: 2, Permission.ADMIN: 3}
_NEEDED = {
    PULL: Permission.READ,
    PUSH: Permission.WRITE,
    DELETE: Permission.ADMIN,
    ADMIN: Permission.ADMIN,
}
SCOPE_ALLOWS = {
    AccessToken.Scope.READ: frozenset({PULL}),
    AccessToken.Scope.WRITE: frozenset({PULL, PUSH}),
    AccessToken.Scope.FULL: frozenset(ACTIONS),
}


def is_anonymous(actor):
    return not isinstance(actor, AccessToken) and not actor.is_authenticated


def is_limited_token(actor):
    """Whether ``actor`` is a token limited to one repository (a build's):
    it pushes and pulls there and is nobody on every other surface."""
    return isinstance(actor, AccessToken) and bool(actor.repository_name)


def acting_user(actor):
    """The user an actor acts for, to record who did something (who pushed a
    tag). Never ask permissions of it: that forgets a token's scope."""
    return actor.user if isinstance(actor, AccessToken) else actor


def _permission_of(user, repository):
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


def _user_and_cap(actor, target):
    """The user whose rights count, and the actions the actor may take at most."""
    if not isinstance(actor, AccessToken):
        return actor, ACTIONS
    if not actor.is_active:
        return AnonymousUser(), ()
    cap = SCOPE_ALLOWS[actor.scope]
    if actor.repository_name and not (
        isinstance(target, Repository) and target.full_name == actor.repository_name
    ):
        # Elsewhere a build's token may only pull, so that FROM an image its
        # user may read works; it never creates or changes anything else.
        cap = cap & {PULL} if isinstance(target, Repository) else ()
    return actor.user, cap


def can(actor, target, action):
    """Whether ``actor`` may take ``action`` on ``target``: a Repository, or
    for one that does not exist yet, the Namespace it would live in (or None
    when that namespace does not exist either). ADMIN of a Namespace is
    changing the namespace's own settings."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    user, cap = _user_and_cap(actor, target)
    if action not in cap:
        return False
    if isinstance(target, Repository) and not target.is_pending:
        return _RANK[_permission_of(user, target)] >= _RANK[_NEEDED[action]]
    # A repository that does not exist yet, or that a push has begun but has
    # no manifest yet: who may create it may push to it, read what it pushed
    # and delete that again.
    if isinstance(target, Repository):
        return action in REGISTRY_ACTIONS and can_create_in(user, target.namespace)
    if action == ADMIN:
        # A namespace's settings (its immutable-tag rules): its user, or an
        # owner of its organization.
        return (
            target is not None and user.is_authenticated and (user.is_staff or _owns(user, target))
        )
    return action in (PULL, PUSH) and can_create_in(user, target)


def allowed_actions(actor, target):
    return [action for action in ACTIONS if can(actor, target, action)]
