"""Storage usage per repository and per namespace (repositories/usage.py)."""

import pytest

from accounts.models import Namespace
from repositories import usage
from repositories.models import Blob, Manifest, Repository, RepositoryBlob

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(make_user):
    make_user("alice")
    return Namespace.objects.get(name="alice")


@pytest.fixture
def bob(make_user):
    make_user("bob")
    return Namespace.objects.get(name="bob")


def repository(namespace, name):
    return Repository.objects.create(namespace=namespace, name=name)


def blob(digest_char, size):
    return Blob.objects.create(digest="sha256:" + digest_char * 64, size=size)


def link(repository, *blobs):
    RepositoryBlob.objects.bulk_create(RepositoryBlob(repository=repository, blob=b) for b in blobs)


def manifest(repository, digest_char, size):
    return Manifest.objects.create(
        repository=repository,
        digest="sha256:" + digest_char * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        payload=b"x" * size,
        size=size,
    )


def test_a_shared_layer_counts_once_for_the_namespace_and_once_per_repository(alice, bob):
    base, app, other = blob("a", 1000), blob("b", 200), blob("c", 30)
    web, api = repository(alice, "web"), repository(alice, "api")
    link(web, base, app)
    link(api, base)
    manifest(web, "d", 7)
    manifest(api, "e", 5)
    link(repository(bob, "web"), base, other)  # another namespace's links count for it alone

    assert usage.repository_usage(web) == 1000 + 200 + 7
    assert usage.repository_usage(api) == 1000 + 5
    assert usage.namespace_usage(alice) == 1000 + 200 + 7 + 5
    assert usage.namespace_usage(bob) == 1000 + 30


def test_one_manifest_in_two_repositories_counts_once_for_the_namespace(alice):
    web, copy = repository(alice, "web"), repository(alice, "copy")
    manifest(web, "d", 7)
    manifest(copy, "d", 7)

    assert usage.repository_usage(copy) == 7
    assert usage.namespace_usage(alice) == 7


def test_an_empty_namespace_uses_nothing(alice):
    repository(alice, "empty")

    assert usage.namespace_usage(alice) == 0
    assert usage.repository_usage(Repository.objects.get()) == 0


def test_the_quota_is_the_namespaces_own_else_the_default(alice, settings):
    settings.HUB_NAMESPACE_QUOTA_BYTES = 0
    assert alice.quota_bytes is None
    settings.HUB_NAMESPACE_QUOTA_BYTES = 100
    assert alice.quota_bytes == 100
    alice.storage_quota_bytes = 0
    assert alice.quota_bytes is None
    alice.storage_quota_bytes = 50
    assert alice.quota_bytes == 50


def test_a_blob_check_is_one_read_and_one_aggregate_query(alice, django_assert_num_queries):
    Namespace.objects.filter(pk=alice.pk).update(storage_quota_bytes=100)
    layer = blob("a", 10)

    with django_assert_num_queries(2):
        usage.check_blob(namespace_id=alice.pk, blob=layer)


def test_without_a_quota_a_check_reads_one_row(alice, django_assert_num_queries):
    layer = blob("a", 10)

    with django_assert_num_queries(1):
        usage.check_blob(namespace_id=alice.pk, blob=layer)


def test_the_refusal_says_how_much_is_used_and_allowed(alice):
    web = repository(alice, "web")
    link(web, blob("a", 3 * 1024**3))
    Namespace.objects.filter(pk=alice.pk).update(storage_quota_bytes=3 * 1024**3 + 1024)

    with pytest.raises(usage.QuotaExceeded) as refused:
        usage.check_blob(namespace_id=alice.pk, blob=blob("b", 300 * 1024**2))

    assert str(refused.value) == (
        "namespace alice is over its storage quota: 3 GB used of 3 GB allowed, 300 MB more refused"
    )


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (1288490189, "1.2 GB"),
        (10 * 1024**3, "10 GB"),
        (5 * 1024**6, "5120 PB"),
    ],
)
def test_sizes_read_as_people_write_them(size, text):
    assert usage.format_bytes(size) == text
