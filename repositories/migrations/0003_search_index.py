"""The search index (repositories/search.py): SearchEntry and SearchWord for
both databases; on PostgreSQL, weighted tsvector columns with GIN indexes
and raised statistics, and a trigram index on the vocabulary; on SQLite, an
FTS5 table. Existing repositories are indexed here; the SQL is a frozen copy
of what search.py did when this was written."""

import re
from datetime import date, timedelta

import django.db.models.deletion
from django.db import migrations, models

POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE repositories_searchentry ADD COLUMN title tsvector NOT NULL DEFAULT ''",
    "ALTER TABLE repositories_searchentry ADD COLUMN document tsvector NOT NULL DEFAULT ''",
    # Rare words plan as rare only with a large sample of lexemes.
    # (The title needs fewer: a name word the sample misses is rare enough to
    # be fetched through GIN, and planning reads the whole sample.)
    "ALTER TABLE repositories_searchentry ALTER COLUMN title SET STATISTICS 1000",
    "ALTER TABLE repositories_searchentry ALTER COLUMN document SET STATISTICS 10000",
    # "best" walks this backwards; with the title in it, the walk for name
    # matches never leaves the index.
    "CREATE INDEX search_best ON repositories_searchentry "
    "(is_official, popularity, repository_id) INCLUDE (is_public, is_automated, title)",
    "CREATE INDEX search_title_gin ON repositories_searchentry USING gin (title)",
    "CREATE INDEX search_document_gin ON repositories_searchentry USING gin (document)",
    "CREATE INDEX search_word_trgm ON repositories_searchword USING gin (word gin_trgm_ops)",
]
POSTGRESQL_BACKWARD = [
    "DROP INDEX IF EXISTS search_word_trgm",
    "DROP INDEX IF EXISTS search_document_gin",
    "DROP INDEX IF EXISTS search_title_gin",
    "DROP INDEX IF EXISTS search_best",
    "ALTER TABLE repositories_searchentry DROP COLUMN IF EXISTS document",
    "ALTER TABLE repositories_searchentry DROP COLUMN IF EXISTS title",
]
SQLITE_FORWARD = [
    "CREATE INDEX search_best ON repositories_searchentry (is_official, popularity, repository_id)",
    "CREATE VIRTUAL TABLE repositories_searchtext USING fts5("
    "name, namespace, description, full_description, "
    "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3')",
]
SQLITE_BACKWARD = [
    "DROP TABLE IF EXISTS repositories_searchtext",
    "DROP INDEX IF EXISTS search_best",
]


def _vector(expression, weight):
    words = f"regexp_replace({expression}, '[^[:alnum:]]+', ' ', 'g')"
    return f"setweight(to_tsvector('simple', {words}), '{weight}')"


_TITLE = f"{_vector('r.name', 'A')} || {_vector('n.name', 'B')}"
_DOCUMENT = (
    f"{_TITLE} || {_vector('r.description', 'C')} || "
    f"{_vector('left(r.full_description, 100000)', 'D')}"
)
_ENTRY_COLUMNS = (
    "repository_id, namespace, name, is_public, is_official, is_automated, "
    "star_count, pull_count, popularity, updated_at"
)
_ENTRY_VALUES = (
    "r.id, n.name, r.name, r.visibility = 'public', r.is_official, r.is_automated, "
    "r.star_count, r.pull_count, "
    "2 * ln(1 + CAST(r.star_count AS DOUBLE PRECISION)) + ln(1 + CAST(coalesce(("
    "SELECT sum(d.count) FROM repositories_pullday d "
    "WHERE d.repository_id = r.id AND d.day > %s), 0) AS DOUBLE PRECISION)), r.updated_at"
)
_FROM = "FROM repositories_repository r JOIN accounts_namespace n ON n.id = r.namespace_id"


def _run(cursor, statements):
    for statement in statements:
        cursor.execute(statement)


def create_vendor_parts(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            _run(cursor, POSTGRESQL_FORWARD)
        elif vendor == "sqlite":
            _run(cursor, SQLITE_FORWARD)


def drop_vendor_parts(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            _run(cursor, POSTGRESQL_BACKWARD)
        elif vendor == "sqlite":
            _run(cursor, SQLITE_BACKWARD)


def index_existing_repositories(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    since = date.today() - timedelta(days=30)
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO repositories_searchentry ({_ENTRY_COLUMNS}, title, document) "
                f"SELECT {_ENTRY_VALUES}, {_TITLE}, {_DOCUMENT} {_FROM}",
                [since],
            )
        elif vendor == "sqlite":
            cursor.execute(
                f"INSERT INTO repositories_searchentry ({_ENTRY_COLUMNS}) "
                f"SELECT {_ENTRY_VALUES} {_FROM}",
                [since],
            )
            cursor.execute(
                "INSERT INTO repositories_searchtext "
                "(rowid, name, namespace, description, full_description) "
                f"SELECT r.id, r.name, n.name, r.description, r.full_description {_FROM}"
            )
        else:
            return
        cursor.execute("SELECT name FROM repositories_searchentry")
        counts = {}
        for (name,) in cursor.fetchall():
            for word in set(re.findall(r"[^\W_]+", name.lower())):
                counts[word[:255]] = counts.get(word[:255], 0) + 1
        for word, count in sorted(counts.items()):
            cursor.execute(
                "INSERT INTO repositories_searchword (word, count) VALUES (%s, %s)", [word, count]
            )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("repositories", "0002_stars_and_pull_days"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchWord",
            fields=[
                ("word", models.CharField(max_length=255, primary_key=True, serialize=False)),
                ("count", models.IntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="SearchEntry",
            fields=[
                (
                    "repository",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="repositories.repository",
                    ),
                ),
                ("namespace", models.CharField(max_length=255)),
                ("name", models.CharField(max_length=255)),
                ("is_public", models.BooleanField()),
                ("is_official", models.BooleanField()),
                ("is_automated", models.BooleanField()),
                ("star_count", models.PositiveIntegerField()),
                ("pull_count", models.PositiveBigIntegerField()),
                ("popularity", models.FloatField()),
                ("updated_at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["star_count", "repository"], name="search_stars"),
                    models.Index(fields=["pull_count", "repository"], name="search_pulls"),
                    models.Index(fields=["updated_at", "repository"], name="search_updated"),
                    models.Index(
                        fields=["name", "is_official", "popularity", "repository"],
                        name="search_name",
                    ),
                ],
            },
        ),
        migrations.RunPython(create_vendor_parts, drop_vendor_parts),
        migrations.RunPython(index_existing_repositories, migrations.RunPython.noop),
    ]
