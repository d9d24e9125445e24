"""Authorization for /v2/ requests: every view asks here before it acts."""

from .. import permissions
from .errors import Denied, Unauthorized


def authorize(request, *, repository, action):
    """Return the actor for ``request`` if it may take ``action`` on
    ``repository`` (None when the push would create it), else raise."""
    actor = request.user
    if permissions.can(actor, repository, action):
        return actor
    if actor.is_authenticated:
        raise Denied()
    raise Unauthorized()
