import json
from datetime import timedelta

import pytest
from django.utils import timezone

from repositories import search, services
from repositories.models import PullDay, SearchEntry, SearchWord
from repositories.search import search_repositories

from .conftest import create, names, namespace, set_automated, set_counts

EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # of b"{}"

# Ranking -------------------------------------------------------------------


def test_an_exact_name_comes_first_even_before_official_and_popular(
    plan, anonymous, alice, library
):
    set_counts(
        create(library, "redis-stack", "Redis with modules", is_official=True), star_count=90
    )
    set_counts(create(namespace("alice"), "redis-tools", "Tools for redis"), star_count=500)
    create(namespace("alice"), "redis", "My own redis")
    assert names(anonymous, "redis") == ["alice/redis", "library/redis-stack", "alice/redis-tools"]


def test_a_full_name_is_an_exact_match(anonymous, alice, bob):
    create(namespace("alice"), "web", "Alice's site")
    set_counts(create(namespace("bob"), "web", "Bob's site, better known"), star_count=50)
    assert names(anonymous, "alice/web")[0] == "alice/web"
    assert names(anonymous, "web")[0] == "bob/web"  # both exact: the popular one


def test_official_comes_before_popular(plan, anonymous, alice, library):
    set_counts(create(namespace("alice"), "webapp", "A web app"), star_count=1000)
    create(library, "webserver", "An official web server", is_official=True)
    assert names(anonymous, "web") == ["library/webserver", "alice/webapp"]


def test_a_name_match_comes_before_a_description_match(plan, anonymous, alice):
    set_counts(create(namespace("alice"), "cache", "A fast cache in front of nginx"), star_count=99)
    create(namespace("alice"), "nginx-proxy", "A proxy")
    assert names(anonymous, "nginx") == ["alice/nginx-proxy", "alice/cache"]


def test_a_namespace_match_counts_as_a_name_match(anonymous, alice, bob):
    set_counts(create(namespace("alice"), "notes", "Made for bob"), star_count=10)
    create(namespace("bob"), "tools", "Shell tools")
    assert names(anonymous, "bob") == ["bob/tools", "alice/notes"]


def test_more_popular_first_by_stars_and_recent_pulls(plan, anonymous, alice):
    quiet = create(namespace("alice"), "db-quiet", "database")
    starred = create(namespace("alice"), "db-starred", "database")
    pulled = create(namespace("alice"), "db-pulled", "database")
    old = create(namespace("alice"), "db-old", "database")
    set_counts(starred, star_count=20)
    today = timezone.now().date()
    PullDay.objects.create(repository=pulled, day=today, count=5)
    set_counts(pulled, pull_count=5)
    # Pulls long ago count for the total, not for popularity.
    PullDay.objects.create(repository=old, day=today - timedelta(days=90), count=10**6)
    set_counts(old, pull_count=10**6)
    assert names(anonymous, "database") == [
        "alice/db-starred",
        "alice/db-pulled",
        "alice/db-old",  # a tie with db-quiet: the newer first
        "alice/db-quiet",
    ]
    assert quiet.pk < old.pk


# Prefixes and typos ----------------------------------------------------------


def test_the_last_word_matches_as_a_prefix(anonymous, library):
    create(library, "postgres", "The PostgreSQL object-relational database")
    create(library, "redis", "Key-value store")
    assert names(anonymous, "post") == ["library/postgres"]
    assert names(anonymous, "object rel") == ["library/postgres"]
    assert names(anonymous, "key val") == ["library/redis"]
    assert names(anonymous, "obj relational") == []  # earlier words are whole words


def test_words_of_a_name_are_found_apart(anonymous, alice):
    create(namespace("alice"), "my_app.server-v2")
    for query in ["app", "server", "v2", "my app server", "alice/my_app.server-v2"]:
        assert names(anonymous, query) == ["alice/my_app.server-v2"], query


def test_all_words_must_match(anonymous, library):
    create(library, "redis", "Key-value store")
    assert names(anonymous, "redis store") == ["library/redis"]
    assert names(anonymous, "redis postgres") == []


@pytest.mark.parametrize(
    "typo, corrected",
    [("postgrse", "postgres"), ("nignx", "nginx"), ("elasticsarch", "elasticsearch")],
)
def test_a_typo_is_corrected_when_nothing_matches(anonymous, library, typo, corrected):
    for name in ["postgres", "nginx", "elasticsearch", "python"]:
        create(library, name, f"The {name} image")
    found = search_repositories(query=typo, actor=anonymous)
    assert found.suggestion == corrected
    assert found.query == typo
    assert [r.full_name for r in found.results] == [f"library/{corrected}"]


def test_a_correction_keeps_the_rest_of_the_query(anonymous, alice):
    create(namespace("alice"), "nginx", "web server")
    found = search_repositories(query="alice/nignx", actor=anonymous)
    assert found.suggestion == "alice/nginx"
    assert [r.full_name for r in found.results] == ["alice/nginx"]


def test_no_suggestion_when_something_matches_or_nothing_is_close(anonymous, library):
    create(library, "nginx", "web server")
    assert search_repositories(query="nginx", actor=anonymous).suggestion is None
    found = search_repositories(query="qqqqzzzz", actor=anonymous)
    assert (found.suggestion, found.results, found.total) == (None, [], 0)


def test_a_correction_never_reveals_a_private_repository(anonymous, alice):
    create(namespace("alice"), "secretproject", visibility="private")
    found = search_repositories(query="secretprojetc", actor=anonymous)
    assert (found.suggestion, found.results) == (None, [])


def test_edit_distance():
    assert search.edit_distance("nignx", "nginx", 2) == 1
    assert search.edit_distance("postgres", "postgres", 2) == 0
    assert search.edit_distance("kitten", "sitting", 3) == 3
    assert search.edit_distance("abc", "xyzxyz", 2) == 3


# Highlights ------------------------------------------------------------------


def test_highlights_mark_matches_and_escape_html(anonymous, alice):
    create(namespace("alice"), "redis-ui", 'A <script>alert("redis")</script> & more')
    (result,) = search_repositories(query="redis", actor=anonymous).results
    assert str(result.name_highlight) == "<mark>redis</mark>-ui"
    assert str(result.description_highlight) == (
        "A &lt;script&gt;alert(&quot;<mark>redis</mark>&quot;)&lt;/script&gt; &amp; more"
    )


def test_a_browse_has_no_marks(anonymous, alice):
    create(namespace("alice"), "tools", "<b>bold</b>")
    (result,) = search_repositories(query="", actor=anonymous).results
    assert str(result.description_highlight) == "&lt;b&gt;bold&lt;/b&gt;"


# Filters, sorts, pages ---------------------------------------------------------


@pytest.fixture
def three(alice, library):
    older = create(library, "app-official", "app", is_official=True)
    set_counts(older, star_count=1, pull_count=300)
    middle = create(namespace("alice"), "app-built", "app")
    set_counts(middle, star_count=30, pull_count=10)
    set_automated(middle)
    newer = create(namespace("alice"), "app-plain", "app")
    set_counts(newer, star_count=20, pull_count=20)
    return older, middle, newer


def test_filters(plan, anonymous, three):
    assert names(anonymous, "app", official=True) == ["library/app-official"]
    assert sorted(names(anonymous, "app", official=False)) == ["alice/app-built", "alice/app-plain"]
    assert names(anonymous, "app", automated=True) == ["alice/app-built"]
    assert "alice/app-built" not in names(anonymous, "app", automated=False)


def test_sorts(plan, anonymous, three):
    older, middle, newer = three
    assert names(anonymous, "app", sort="stars") == [
        "alice/app-built",
        "alice/app-plain",
        "library/app-official",
    ]
    assert names(anonymous, "app", sort="pulls")[0] == "library/app-official"
    assert names(anonymous, "app", sort="updated")[0] == "alice/app-plain"
    assert names(anonymous, "app")[0] == "library/app-official"
    with pytest.raises(ValueError):
        search_repositories(query="app", actor=anonymous, sort="random")


def test_a_push_moves_a_repository_to_the_top_of_updated(anonymous, three, settings):
    older, _, _ = three
    settings.HUB_ALLOW_SPARSE_MANIFESTS = True
    manifest = (
        b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
        b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
        b'"digest":"sha256:' + b"a" * 64 + b'","size":2},"layers":[]}'
    )
    services.manifest_put(
        repository=older,
        reference="latest",
        payload=manifest,
        content_type="application/vnd.oci.image.manifest.v1+json",
    )
    assert names(anonymous, "app", sort="updated")[0] == "library/app-official"


def test_pages(plan, anonymous, alice):
    for number in range(7):
        set_counts(create(namespace("alice"), f"svc-{number}", "service"), star_count=number)
    first = search_repositories(query="service", actor=anonymous, page=1, page_size=3)
    third = search_repositories(query="service", actor=anonymous, page=3, page_size=3)
    beyond = search_repositories(query="service", actor=anonymous, page=4, page_size=3)
    assert [r.name for r in first.results] == ["svc-6", "svc-5", "svc-4"]
    assert [r.name for r in third.results] == ["svc-0"]
    assert (first.total, first.num_pages, first.total_display) == (7, 3, "7")
    assert beyond.results == [] and beyond.total == 7


@pytest.mark.parametrize("sort", ["stars", "pulls", "updated"])
def test_pages_in_every_sort(plan, anonymous, alice, sort):
    for number in range(5):
        set_counts(
            create(namespace("alice"), f"svc-{number}", "service"),
            star_count=number,
            pull_count=number,
        )
    pages = [
        [
            r.name
            for r in search_repositories(
                query="service", actor=anonymous, sort=sort, page=page, page_size=2
            ).results
        ]
        for page in (1, 2, 3)
    ]
    assert pages == [["svc-4", "svc-3"], ["svc-2", "svc-1"], ["svc-0"]]


def test_a_count_stops_at_the_cap(anonymous, alice, monkeypatch):
    monkeypatch.setattr(search, "CAP", 3)
    for number in range(5):
        create(namespace("alice"), f"svc-{number}", "service")
    found = search_repositories(query="service", actor=anonymous, page_size=2, page=2)
    assert (found.total, found.total_capped, found.total_display) == (3, True, "3+")
    assert len(found.results) == 1  # nothing is listed past the cap


def test_punctuation_alone_finds_nothing_and_empty_lists_all(anonymous, alice):
    create(namespace("alice"), "tools")
    assert names(anonymous, "***") == []
    assert names(anonymous, "") == ["alice/tools"]


# Visibility --------------------------------------------------------------------


@pytest.fixture
def private(alice, bob):
    from repositories.models import Collaborator

    repository = create(namespace("alice"), "secret-db", "database", visibility="private")
    Collaborator.objects.create(repository=repository, user=bob, permission="read")
    create(namespace("alice"), "open-db", "database")
    return repository


def test_private_repositories_only_for_who_may_read_them(
    plan, anonymous, alice, bob, carol, private, django_user_model
):
    staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    both = ["alice/open-db", "alice/secret-db"]
    assert names(anonymous, "database") == ["alice/open-db"]
    assert names(carol, "database") == ["alice/open-db"]
    assert sorted(names(alice, "database")) == both
    assert sorted(names(bob, "database")) == both
    assert sorted(names(staff, "database")) == both
    assert search_repositories(query="database", actor=anonymous).total == 1
    assert search_repositories(query="", actor=carol).total == 1
    assert names(anonymous, "secret") == []
    assert names(anonymous, "alice/secret-db") == []


def test_team_members_see_their_teams_private_repositories(anonymous, alice, bob, carol):
    from accounts.services import organization_create, team_create, team_member_add
    from repositories.models import TeamAccess

    organization = organization_create(name="acme", owner=alice)
    team = team_create(organization=organization, name="devs")
    team_member_add(team=team, user=bob)
    repository = create(organization.namespace, "internal", "tools", visibility="private")
    TeamAccess.objects.create(team=team, repository=repository, permission="read")
    assert names(bob, "internal") == ["acme/internal"]
    assert names(alice, "internal") == ["acme/internal"]  # an owner of acme
    assert names(carol, "internal") == []


# The index follows the services ------------------------------------------------


def test_a_created_repository_is_found(anonymous, alice):
    services.repository_create(namespace=namespace("alice"), name="fresh", description="new")
    assert names(anonymous, "fresh") == ["alice/fresh"]


def test_a_pushed_repository_is_found_once_it_has_a_manifest(anonymous, library, settings):
    settings.HUB_ALLOW_SPARSE_MANIFESTS = True  # the manifest alone matters here
    repository = services.repository_get_or_create(name="busybox")
    assert names(anonymous, "busybox") == []  # a push has begun, nothing is there yet
    config = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2}
    manifest = {"schemaVersion": 2, "config": config, "layers": []}
    services.manifest_put(
        repository=repository,
        reference="latest",
        payload=json.dumps(manifest).encode(),
        content_type="application/vnd.oci.image.manifest.v1+json",
    )
    assert names(anonymous, "busybox") == ["library/busybox"]


def test_a_description_change_is_searched(anonymous, alice):
    repository = create(namespace("alice"), "tool", "old words")
    services.repository_update(repository=repository, description="brand new text")
    assert names(anonymous, "old") == []
    assert names(anonymous, "brand") == ["alice/tool"]
    services.repository_update(repository=repository, full_description="# Deep readme words")
    assert names(anonymous, "readme") == ["alice/tool"]


def test_a_visibility_change_is_followed(anonymous, alice):
    repository = create(namespace("alice"), "tool", "words")
    services.repository_update(repository=repository, visibility="private")
    assert names(anonymous, "tool") == []
    assert names(alice, "tool") == ["alice/tool"]
    services.repository_update(repository=repository, visibility="public")
    assert names(anonymous, "tool") == ["alice/tool"]


def test_a_deleted_repository_leaves_the_index(anonymous, alice):
    repository = create(namespace("alice"), "zebra-tool", "words")
    other = create(namespace("alice"), "zebra-app", "words")
    assert SearchWord.objects.get(word="zebra").count == 2
    services.repository_delete(repository=repository)
    assert names(anonymous, "zebra") == ["alice/zebra-app"]
    assert not SearchEntry.objects.filter(repository_id=repository.pk).exists()
    assert SearchWord.objects.get(word="zebra").count == 1
    assert SearchWord.objects.get(word="tool").count == 0
    services.repository_delete(repository=other)
    assert names(anonymous, "zebra") == []


def test_stars_move_the_ranking(anonymous, alice, bob):
    first = create(namespace("alice"), "tool-a", "tool")
    second = create(namespace("alice"), "tool-b", "tool")
    assert names(anonymous, "tool")[0] == "alice/tool-b"  # ties: newest first
    services.star_add(user=bob, repository=first)
    assert names(anonymous, "tool")[0] == "alice/tool-a"
    assert SearchEntry.objects.get(repository=first).star_count == 1
    services.star_remove(user=bob, repository=first)
    assert names(anonymous, "tool")[0] == "alice/tool-b"
    assert second.pk > first.pk


def test_a_rebuild_indexes_everything_again(anonymous, alice):
    create(namespace("alice"), "tool-a", "hammer")
    SearchEntry.objects.all().delete()
    assert names(anonymous, "hammer") == []
    search.search_index_rebuild()
    assert names(anonymous, "hammer") == ["alice/tool-a"]
    assert SearchWord.objects.get(word="tool").count == 1
