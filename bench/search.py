"""Search over a million repositories on PostgreSQL.

Creates a database of its own (hub_bench_search), migrates it, loads
repositories with COPY (a vocabulary with Zipf-like word use, a few hundred
official images, Pareto-like stars and pulls, some private repositories),
builds the index with search_index_rebuild(), ANALYZEs, then times
search_repositories() as the search page calls it (anonymous user, first
page, highlights included) for common words, rare words, prefixes and typos.
Drops the database at the end unless --keep.

    .venv/bin/python bench/search.py [--repositories N] [--queries N] [--keep]

HUB_BENCH_POSTGRES names the server (default postgres://postgres@127.0.0.1:5432).
"""

import argparse
import io
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 50
ONE_DAY = timedelta(days=1)
OFFICIAL = 300

# The words Docker repositories are made of, most used first; the long tail
# is made up below.
COMMON_WORDS = """
docker app web api server node python alpine nginx test dev service go java
postgres redis mysql golang ubuntu debian base image backend frontend proxy
data db worker demo php cli tool react spring boot kafka mongo bot jenkins
build runner agent exporter prometheus grafana monitor operator controller
cloud aws azure gcp k8s kubernetes helm terraform ansible ci cd deploy
static site blog wordpress ghost drupal rails ruby rust dotnet core sdk
runtime jdk openjdk maven gradle npm yarn vue angular next nuxt django flask
fastapi celery rabbitmq elasticsearch kibana logstash fluentd vault consul
traefik haproxy envoy istio minio mariadb sqlite cassandra influxdb etcd
zookeeper spark hadoop airflow jupyter notebook tensorflow pytorch ml ai
gpu cuda ffmpeg media stream chat mail smtp dns vpn ssh git gitlab gitea
backup sync cron scheduler queue cache search auth oauth keycloak ldap
""".split()
SYLLABLES = """
ka lo mi ne ru ta vo zi be do fa gu hi ja ke li mo nu pa qui ra se ti
ul va wo xe yu zo bri cla dre fro gli pra stu tro vex zan kor mel
""".split()


def made_up_words(count, rng):
    words, seen = [], set(COMMON_WORDS)
    while len(words) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Vocabulary:
    """Words drawn with probability proportional to 1/rank (Zipf, s=1). Draws
    are sliced from a pool drawn once: a million rows want tens of millions."""

    POOL = 1 << 22

    def __init__(self, words, rng):
        self.words = words
        self.rng = rng
        total, cumulative = 0.0, []
        for rank in range(1, len(words) + 1):
            total += 1 / rank
            cumulative.append(total)
        self.pool = rng.choices(words, cum_weights=cumulative, k=self.POOL)

    def draw(self, count):
        start = self.rng.randrange(self.POOL - count)
        return self.pool[start : start + count]


def server_url():
    return os.environ.get("HUB_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")


def database_url(name):
    parts = urlsplit(server_url())
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_connection():
    import psycopg2

    connection = psycopg2.connect(database_url("postgres"))
    connection.autocommit = True
    return connection


def create_database(name):
    connection = admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def drop_database(name):
    from django.db import connections

    connections.close_all()
    connection = admin_connection()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def copy(cursor, table, columns, lines):
    buffer = io.StringIO()
    buffer.writelines(lines)
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def pareto(rng, alpha, scale, cap):
    return min(int(scale * (rng.paretovariate(alpha) - 1)), cap)


def generate(count, rng, vocabulary):
    """Namespaces and ``count`` repositories, straight into their tables."""
    from django.db import connection

    namespaces = max(1, count // 10)
    started = time.perf_counter()
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg2's, for COPY
        cursor.execute("SELECT now()")
        (now,) = cursor.fetchone()
        namespace_lines = [f"1\tlibrary\torganization\tpublic\t{now}\n"]
        seen = {"library"}
        for number in range(2, namespaces + 2):
            name = f"{'-'.join(vocabulary.draw(rng.randint(1, 2)))}{rng.randint(1, 9999)}"
            while name in seen:
                name += str(rng.randint(0, 9))
            seen.add(name)
            namespace_lines.append(f"{number}\t{name}\tuser\tpublic\t{now}\n")
        copy(
            cursor,
            "accounts_namespace",
            ["id", "name", "kind", "default_visibility", "created_at"],
            namespace_lines,
        )
        names_used = set()
        moments = [str(now - rng.random() * 1000 * ONE_DAY) for _ in range(10_000)]
        name_lengths = (1, 2, 2, 2, 3)
        full_lengths = (0, 0, 10, 20, 40)

        def repositories(start, stop):
            for number in range(start, stop):
                if number <= OFFICIAL:
                    namespace_id, name = 1, vocabulary.words[number - 1]
                    stars, pulls = pareto(rng, 1.1, 2000, 10**6), pareto(rng, 1.0, 10**6, 10**10)
                else:
                    namespace_id = rng.randint(2, namespaces + 1)
                    name = "-".join(vocabulary.draw(rng.choice(name_lengths)))
                    stars, pulls = pareto(rng, 1.6, 3, 10**5), pareto(rng, 1.3, 50, 10**8)
                while (namespace_id, name) in names_used:
                    name += str(rng.randint(0, 9))
                names_used.add((namespace_id, name))
                description = " ".join(vocabulary.draw(rng.randint(4, 12))).capitalize()[:255]
                full = " ".join(vocabulary.draw(rng.choice(full_lengths)))
                visibility = "private" if namespace_id != 1 and rng.random() < 0.05 else "public"
                official = "t" if namespace_id == 1 else "f"
                automated = "t" if rng.random() < 0.1 else "f"
                updated = rng.choice(moments)
                yield (
                    f"{number}\t{namespace_id}\t{name}\t{visibility}\t{description}\t{full}\t"
                    f"{official}\t{automated}\tf\t{stars}\t{pulls}\t{updated}\t{updated}\n"
                )

        columns = [
            "id",
            "namespace_id",
            "name",
            "visibility",
            "description",
            "full_description",
            "is_official",
            "is_automated",
            "is_pending",
            "star_count",
            "pull_count",
            "created_at",
            "updated_at",
        ]
        batch = 100_000
        for start in range(1, count + 1, batch):
            stop = min(start + batch, count + 1)
            copy(cursor, "repositories_repository", columns, repositories(start, stop))
        # Recent pulls for one repository in ten, a few days each.
        today = now.date()
        pull_days = (
            f"{number}\t{today - rng.randint(0, 40) * ONE_DAY}\t{pareto(rng, 1.2, 20, 10**6)}\n"
            for number in rng.sample(range(1, count + 1), count // 10)
        )
        copy(cursor, "repositories_pullday", ["repository_id", "day", "count"], pull_days)
        for table in ["accounts_namespace", "repositories_repository", "repositories_pullday"]:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    return time.perf_counter() - started


def build_index():
    from django.db import connection, transaction

    from repositories.search import search_index_rebuild

    started = time.perf_counter()
    with transaction.atomic():
        search_index_rebuild()
    built = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return built, time.perf_counter() - started


def typo_of(word, rng):
    position = rng.randrange(len(word) - 1)
    edit = rng.choice(("swap", "drop", "change"))
    if edit == "swap":
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    if edit == "drop":
        return word[:position] + word[position + 1 :]
    replacement = rng.choice([c for c in "aeiourstnl" if c != word[position]])
    return word[:position] + replacement + word[position + 1 :]


def queries(vocabulary, count, rng):
    words = vocabulary.words
    known = set(words)
    prefixes = {word[:end] for word in words for end in range(1, len(word) + 1)}
    common = [rng.choice(words[:60]) for _ in range(count)]
    rare = [rng.choice(words[len(words) // 2 :]) for _ in range(count)]
    prefix = []
    while len(prefix) < count:
        word = rng.choice(words[:3000])
        if len(word) >= 5:
            prefix.append(word[: rng.randint(3, len(word) - 1)])
    typos = []
    while len(typos) < count:
        word = rng.choice(words[:3000])
        if len(word) < 5:
            continue
        typo = typo_of(word, rng)
        # A typo that is a word, or the start of one, finds something as it is.
        if typo not in known and typo not in prefixes:
            typos.append(typo)
    two = [f"{rng.choice(words[:200])} {rng.choice(words[:2000])}" for _ in range(count)]
    return {
        "common word": common,
        "rare word": rare,
        "prefix": prefix,
        "typo": typos,
        "two words": two,
    }


def measure(kind, terms):
    from django.contrib.auth.models import AnonymousUser

    from repositories.search import search_repositories

    anonymous = AnonymousUser()
    for term in terms[:5]:  # warm the caches a little
        search_repositories(query=term, actor=anonymous)
    timings, found, corrected = [], 0, 0
    for term in terms:
        started = time.perf_counter()
        result = search_repositories(query=term, actor=anonymous)
        timings.append((time.perf_counter() - started) * 1000)
        found += bool(result.results)
        corrected += result.suggestion is not None
    timings.sort()
    return {
        "kind": kind,
        "queries": len(terms),
        "p50": statistics.median(timings),
        "p95": timings[max(0, int(len(timings) * 0.95) - 1)],
        "max": timings[-1],
        "found": found,
        "corrected": corrected,
    }


def explain(term):
    """The plan of the first page's query for ``term``, for the curious."""
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection

    from repositories.search import search_repositories

    executed = []

    def capture(execute, sql, params, many, context):
        executed.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        search_repositories(query=term, actor=AnonymousUser())
    with connection.cursor() as cursor:
        for sql, params in executed[:2]:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()))
            print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--words", type=int, default=20_000, help="vocabulary size")
    parser.add_argument("--database", default="hub_bench_search")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="search a database kept by --keep; load nothing"
    )
    parser.add_argument("--explain", action="store_true", help="print plans of sample queries")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    vocabulary = Vocabulary(COMMON_WORDS + made_up_words(args.words - len(COMMON_WORDS), rng), rng)
    if not args.reuse:
        create_database(args.database)
    os.environ["HUB_DATABASE_URL"] = database_url(args.database)
    data_dir = None
    if "HUB_DATA_DIR" not in os.environ:
        data_dir = os.environ["HUB_DATA_DIR"] = tempfile.mkdtemp(prefix="hub-bench-search-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings.base"
    os.environ.setdefault("HUB_LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    try:
        if not args.reuse:
            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            print(f"migrated in {time.perf_counter() - started:.1f} s")
            print(
                f"generated {args.repositories:,} repositories in "
                f"{generate(args.repositories, rng, vocabulary):.1f} s"
            )
            built, analyzed = build_index()
            print(f"indexed in {built:.1f} s, vacuumed and analyzed in {analyzed:.1f} s")
        sets = queries(vocabulary, args.queries, random.Random(args.seed + 1))
        if args.explain:
            for kind, terms in sets.items():
                print(f"-- {kind}: {terms[0]}")
                explain(terms[0])
        rows = [measure(kind, terms) for kind, terms in sets.items()]
    finally:
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        if not args.keep:
            drop_database(args.database)

    print()
    print(f"search_repositories() over {args.repositories:,} repositories, anonymous, page 1 of 25")
    print(
        f"{'query':<12} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'found':>6} "
        f"{'fixed':>6}"
    )
    for row in rows:
        print(
            f"{row['kind']:<12} {row['queries']:>5} {row['p50']:>8.1f} {row['p95']:>8.1f} "
            f"{row['max']:>8.1f} {row['found']:>6} {row['corrected']:>6}"
        )
    worst = max(row["p95"] for row in rows)
    verdict = "met" if worst <= TARGET_P95_MS else "MISSED"
    print(f"target p95 <= {TARGET_P95_MS} ms: {verdict} (worst p95 {worst:.1f} ms)")
    return 0 if worst <= TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
