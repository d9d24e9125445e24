"""Listing and searching repositories for the API, with the search page's
parameters (q, official, automated, sort) over what the caller may see."""

from django.db.models import Case, IntegerField, Q, Value, When

from .. import search
from ..models import Repository

_LABELS = {
    "best": "Best match",
    "stars": "Most stars",
    "pulls": "Most pulls",
    "updated": "Recently updated",
}
# The search page's sorts, by the same names.
SORTS = {sort: _LABELS.get(sort, sort) for sort in search.SORTS}
BEST = "best"

_ORDER = {
    "best": ("-is_official", "-star_count", "-pull_count"),
    "stars": ("-star_count", "-pull_count"),
    "pulls": ("-pull_count", "-star_count"),
    "updated": ("-updated_at",),
}
_TIE_BREAK = ("namespace__name", "name", "pk")


def search_page(*, actor, query, official=None, automated=None, sort=BEST, page, page_size):
    """One page of search results (repositories.search), for a query over
    every namespace."""
    return search.search_repositories(
        query=query,
        actor=actor,
        official=official,
        automated=automated,
        sort=sort,
        page=page,
        page_size=page_size,
    )


def repositories_matching(
    *, actor, query="", namespace=None, official=None, automated=None, sort=BEST
):
    """Repositories ``actor`` may see, filtered and sorted, as a queryset: for
    browsing, and for searching within one namespace (which the search index
    does not filter by; a namespace holds few enough repositories for a plain
    substring match). An exact name comes first when sorting by best match."""
    repositories = Repository.objects.visible_to(actor).select_related("namespace")
    if namespace:
        repositories = repositories.filter(namespace__name=namespace)
    if official is not None:
        repositories = repositories.filter(is_official=official)
    if automated is not None:
        repositories = repositories.filter(is_automated=automated)
    order = _ORDER[sort]
    if query:
        repositories = repositories.filter(
            Q(name__icontains=query) | Q(description__icontains=query)
        )
        if sort == BEST:
            exact = Case(
                When(name=query, then=Value(1)), default=Value(0), output_field=IntegerField()
            )
            repositories = repositories.annotate(exact=exact)
            order = ("-exact", *order)
    return repositories.order_by(*order, *_TIE_BREAK)
