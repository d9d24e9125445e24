"""The one place that answers who may do what to a repository.

Every registry request, page and API call asks ``can()``. Until accounts
carry permissions, the registry is open: anyone may pull, push and delete.
"""

PULL = "pull"
PUSH = "push"
DELETE = "delete"
ACTIONS = (PULL, PUSH, DELETE)


def can(actor, repository, action):
    """Whether ``actor`` (a user, anonymous, or a token's holder) may take
    ``action`` on ``repository`` (None for one that does not exist yet)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return True
