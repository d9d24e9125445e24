"""Who is locked out after failed log-ins (django-axes' AXES_HANDLER).

axes compares one count with one limit. Counting by address at that limit
locks a whole office, behind one address, out when one person mistypes a
password ten times; counting by username alone would let anyone lock anyone
out. So Hub counts twice: the failures for one username at one address
against HUB_LOGIN_FAILURE_LIMIT (guessing one account), and all the failures
at one address against the much higher HUB_LOGIN_ADDRESS_FAILURE_LIMIT
(guessing across many accounts).
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce


def username_of(request, credentials):
    """The username axes counts under (AXES_USERNAME_CALLABLE): lowercased,
    because log-ins ignore its case, and "ALICE" must not earn a fresh
    allowance of guesses against alice."""
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    return username.lower() if username else username


def counted(attempts, *, since):
    """The attempts the lockout still counts: those since the cool-off began
    (None: all of them)."""
    return attempts if since is None else attempts.filter(attempt_time__gte=since)


class LockoutHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None):
        """The failures for this username at this address, raised to the
        limit once the address as a whole reaches its own threshold: axes'
        is_locked and user_login_failed compare this one number with
        AXES_FAILURE_LIMIT."""
        since = None if settings.AXES_COOLOFF_TIME is None else get_cool_off_threshold(request)
        at_address = counted(
            AccessAttempt.objects.filter(ip_address=request.axes_ip_address), since=since
        )
        failures = at_address.aggregate(
            address=Coalesce(Sum("failures_since_start"), 0),
            user=Coalesce(
                Sum(
                    "failures_since_start",
                    filter=Q(username=username_of(request, credentials)),
                ),
                0,
            ),
        )
        if failures["address"] >= settings.HUB_LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(failures["user"], get_failure_limit(request, credentials))
        return failures["user"]


def with_failure_counts(attempts, *, since):
    """AccessAttempt rows with the two counts the lockout compares:
    ``user_failures`` (this username at this address) and
    ``address_failures`` (everyone at this address)."""

    def total(**match):
        rows = counted(AccessAttempt.objects.filter(**match), since=since)
        return Coalesce(
            Subquery(
                rows.order_by()
                .values("ip_address")
                .annotate(total=Sum("failures_since_start"))
                .values("total")
            ),
            0,
        )

    return attempts.annotate(
        user_failures=total(ip_address=OuterRef("ip_address"), username=OuterRef("username")),
        address_failures=total(ip_address=OuterRef("ip_address")),
    )


def lockout_lift(*, attempts, address_limit):
    """Deletes the failures that lock out these rows' users: their own at
    their addresses, and every failure at an address that is locked out as a
    whole (otherwise lifting would leave the person locked out). ``attempts``
    carry ``with_failure_counts``. Returns how many rows went."""
    lifted = Q(pk__in=[])
    for username, ip_address, address_failures in attempts.values_list(
        "username", "ip_address", "address_failures"
    ):
        if address_failures >= address_limit:
            lifted |= Q(ip_address=ip_address)
        else:
            lifted |= Q(username=username, ip_address=ip_address)
    _, deleted = AccessAttempt.objects.filter(lifted).delete()
    return deleted.get(AccessAttempt._meta.label, 0)
