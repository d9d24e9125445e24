import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Namespace
from accounts.services import staff_namespace_get_or_create
from repositories import search, services
from repositories.models import Repository
from repositories.search import search_index_refresh, search_index_update, search_repositories


@pytest.fixture(autouse=True)
def _db(db):
    pass


@pytest.fixture(params=["fetch all", "walk"])
def plan(request, monkeypatch):
    """Both ways PostgreSQL finds a page: fetching every match (what a handful
    of test rows gets) and walking a sort index (what a common word gets)."""
    if request.param == "walk":

        def count(self, parsed, conditions):
            exact = search._Backend.count(self, parsed, conditions)
            return search._Count(exact.total, plentiful=True)

        monkeypatch.setattr(search._PostgreSQL, "count", count)
    return request.param


@pytest.fixture
def anonymous():
    return AnonymousUser()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-pw")


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", "carol@example.com", "carol-pw")


@pytest.fixture
def library():
    return staff_namespace_get_or_create(name="library")


def namespace(name):
    return Namespace.objects.get(name=name)


def create(namespace, name, description="", **changes):
    """A repository made as the portal makes one, then changed through the
    update service (visibility, official...)."""
    repository = services.repository_create(
        namespace=namespace,
        name=name,
        description=description,
        visibility=changes.pop("visibility", "public"),
        full_description=changes.pop("full_description", ""),
    )
    if changes:
        services.repository_update(repository=repository, **changes)
    return repository


def set_counts(repository, **counts):
    """Counters as the star and pull services leave them, then the refresh
    they call."""
    Repository.objects.filter(pk=repository.pk).update(**counts)
    search_index_refresh(repository_ids=[repository.pk])


def set_automated(repository, automated=True):
    Repository.objects.filter(pk=repository.pk).update(is_automated=automated)
    search_index_update(repository=Repository.objects.get(pk=repository.pk))


def names(user, query, **options):
    found = search_repositories(query=query, actor=user, **options)
    return [repository.full_name for repository in found.results]
