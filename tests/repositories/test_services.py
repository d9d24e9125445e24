import pytest
from django.db import transaction

from accounts.models import Namespace
from repositories import services
from repositories.models import Repository, Star

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture
def namespace(alice):
    return Namespace.objects.get(name="alice")


def test_create_takes_the_namespace_default_visibility(namespace):
    namespace.default_visibility = "private"
    namespace.save()
    repository = services.repository_create(namespace=namespace, name="tools", description="CLI")
    assert repository.visibility == "private"
    assert repository.full_name == "alice/tools"


@pytest.mark.parametrize("name", ["Tools", "-tools", "to..ols", "tools/", ""])
def test_create_explains_bad_names(namespace, name):
    with pytest.raises(services.RepositoryInvalid, match="lowercase letters"):
        services.repository_create(namespace=namespace, name=name)


def test_create_refuses_a_taken_name(namespace):
    services.repository_create(namespace=namespace, name="tools")
    with pytest.raises(services.RepositoryInvalid, match="already exists"):
        services.repository_create(namespace=namespace, name="tools")


def test_visibility_change_reaches_the_registry_at_once(namespace):
    repository = services.repository_create(namespace=namespace, name="tools")
    assert services.repository_find(name="alice/tools").visibility == "public"  # now cached

    services.repository_update(repository=repository, visibility="private")

    assert services.repository_find(name="alice/tools").visibility == "private"


def test_delete_forgets_the_cached_repository(namespace):
    repository = services.repository_create(namespace=namespace, name="tools")
    services.repository_find(name="alice/tools")
    services.repository_delete(repository=repository)
    assert services.repository_find(name="alice/tools") is None


def test_update_refuses_unknown_fields(namespace):
    repository = services.repository_create(namespace=namespace, name="tools")
    with pytest.raises(TypeError):
        services.repository_update(repository=repository, name="other")


def test_stars_count_once_per_user(namespace, alice):
    repository = services.repository_create(namespace=namespace, name="tools")
    assert services.star_add(user=alice, repository=repository) is True
    assert services.star_add(user=alice, repository=repository) is False
    repository.refresh_from_db()
    assert repository.star_count == 1

    assert services.star_remove(user=alice, repository=repository) is True
    assert services.star_remove(user=alice, repository=repository) is False
    repository.refresh_from_db()
    assert repository.star_count == 0
    assert not Star.objects.exists()


def test_star_count_matches_the_stars_after_racing_clicks(namespace, alice, django_user_model):
    """Clicks that race each other leave the counter equal to the rows."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    repository = services.repository_create(namespace=namespace, name="tools")
    users = [django_user_model.objects.create_user(f"user{i}", password="pw") for i in range(4)]
    barrier = threading.Barrier(8)

    def click(user):
        barrier.wait()
        try:
            services.star_add(user=user, repository=repository)
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(u,)) for u in users + users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with transaction.atomic():
        repository.refresh_from_db()
    assert repository.star_count == Star.objects.filter(repository=repository).count() == 4
    assert Repository.objects.get(pk=repository.pk).star_count == 4
