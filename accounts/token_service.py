"""What a registry token grants: the scopes a client asks for, cut down to
what its actor may do. A scope the actor may not have is dropped, not
refused, as Docker's token specification says."""

from accounts.models import Namespace
from repositories import permissions, services
from repositories.models import Repository
from repositories.oci.names import is_valid_name, split_name


def parse_scope(scope):
    """``(type, name, actions)`` from ``repository:ns/name:pull,push``, or None."""
    resource_type, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not resource_type or not name or not actions:
        return None
    return resource_type.split("(", 1)[0], name, [a for a in actions.split(",") if a]


def _repository_actions(actor, name, requested):
    if not is_valid_name(name):
        return []
    wanted = set(permissions.REGISTRY_ACTIONS) if "*" in requested else set(requested)
    # A repository that does not exist yet is judged by its namespace.
    target = services.repository_find(name=name) or (
        Namespace.objects.filter(name=split_name(name)[0]).first()
    )
    actions = [
        a for a in permissions.REGISTRY_ACTIONS if a in wanted and permissions.can(actor, target, a)
    ]
    if not isinstance(target, Repository) and permissions.PUSH not in actions:
        # A name that does not exist yet is readable only to someone pushing
        # to it: granting pull alone would tell it apart from a private
        # repository, whose pull is refused.
        return []
    return actions


def grant(actor, scopes):
    """The ``access`` claim for ``actor`` (a user, anonymous, or an access
    token) asking for ``scopes``."""
    granted = {}
    for scope in scopes:
        parsed = parse_scope(scope)
        if parsed is None:
            continue
        resource_type, name, requested = parsed
        if resource_type == "repository":
            actions = _repository_actions(actor, name, requested)
        elif resource_type == "registry" and name == "catalog":
            # The listing itself shows only what the caller may see; a
            # build's token lists nothing.
            actions = [] if permissions.is_limited_token(actor) else ["*"]
        else:
            actions = []
        if actions:
            entry = granted.setdefault(
                (resource_type, name), {"type": resource_type, "name": name, "actions": []}
            )
            entry["actions"] += [a for a in actions if a not in entry["actions"]]
    return list(granted.values())
