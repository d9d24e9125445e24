"""Repository search: one interface, a backend for each database.

``search_repositories()`` answers the search page, the REST API and
``docker search``. The index is SearchEntry (what search filters and sorts
on) plus the text: two weighted tsvectors on PostgreSQL, an FTS5 table on
SQLite. The services keep it current by calling ``search_index_update()``,
``search_index_refresh()`` and ``search_index_remove()``; nothing updates it
behind their back.

Ranking ("best"): an exact name first, then official repositories, then those
whose name or namespace matches, then popularity (stars and recent pulls).

Why it stays fast over a million repositories on PostgreSQL (DESIGN.md, "What
is known about speed here"): nothing ranks every match. The page is cut from
the union of three short lists, each the first K (= the rows up to the page's
end) by (is_official, popularity, id) among: the exact names, the name or
namespace matches, all matches. Every row of the true top K is in that union,
so the order is exact, not an approximation. Each list is a walk down a btree
backwards under the ``@@`` filter when matches are plentiful; the name walk
never leaves the index (the title is INCLUDEd in it). When the planner
estimates few matches (the tsvector statistics target is 10000, so rare words
look rare) they are all fetched through GIN and sorted instead, because a
walk's every step is a random heap read its cost model underprices. Counts
are exact up to CAP when the estimate is small, and the estimate is taken
otherwise ("1,000+"). Typos are corrected against the small vocabulary of name
words (SearchWord, trigram indexed), never by scanning a million names, and
only when a query finds nothing.
"""

import json
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from accounts.models import Namespace, Visibility

from . import permissions
from .models import PullDay, Repository, SearchEntry, SearchWord

SORTS = ("best", "stars", "pulls", "updated")
# Counted exactly up to here, then shown as "1,000+"; no page starts beyond it.
CAP = 1000
MAX_PAGE_SIZE = 100
MAX_TERMS = 8
MAX_TERM_LENGTH = 64
# Pulls this recent count towards popularity.
RECENT_PULL_DAYS = 30
# Typos are corrected only for terms at least this long; and a correction may
# be this many edits away (a transposition is one edit).
MIN_TYPO_LENGTH = 3

ENTRY = SearchEntry._meta.db_table
WORD = SearchWord._meta.db_table
REPOSITORY = Repository._meta.db_table
NAMESPACE = Namespace._meta.db_table
PULL_DAY = PullDay._meta.db_table
# SQLite only: the FTS5 table, one row per repository (rowid = repository id).
TEXT = "repositories_searchtext"

# Stars weigh twice as much as recent pulls; logarithms keep a few giants from
# drowning everything else. Both databases have ln().
POPULARITY = (
    "2 * ln(1 + CAST(r.star_count AS DOUBLE PRECISION)) + ln(1 + CAST(coalesce(("
    f"SELECT sum(d.count) FROM {PULL_DAY} d WHERE d.repository_id = r.id AND d.day > %s"
    "), 0) AS DOUBLE PRECISION))"
)

# What the sort orders read.
SORT_COLUMNS = (
    "repository_id",
    "is_official",
    "popularity",
    "star_count",
    "pull_count",
    "updated_at",
)
SORT_ORDERS = {
    "best": "e.is_official DESC, e.popularity DESC, e.repository_id DESC",
    "stars": "e.star_count DESC, e.repository_id DESC",
    "pulls": "e.pull_count DESC, e.repository_id DESC",
    "updated": "e.updated_at DESC, e.repository_id DESC",
}

_WORD_RE = re.compile(r"[^\W_]+")
_NAME_RE = re.compile(r"^[a-z0-9]+(?:[._/-]+[a-z0-9]+)*$")
# ts_headline marks matches with these; they are stripped from the text first,
# so after escaping the HTML they can only be our marks.
_START, _STOP = "\x02", "\x03"
# ts_headline's parser skips what looks like HTML tags (and all of a <script>),
# while the index has their words; angle brackets are hidden from it as these.
_LT, _GT = "\x04", "\x05"


def words(text):
    """The words of ``text`` as both backends index them: runs of letters and
    digits, lowercased ("redis-exporter_v2" is redis, exporter, v2)."""
    return _WORD_RE.findall(text.lower())


# The interface ------------------------------------------------------------


@dataclass
class SearchResults:
    """One page of a search. ``results`` are Repository instances (namespace
    selected) with ``name_highlight`` and ``description_highlight``: safe HTML
    with the matched words in <mark>. ``total`` is exact up to CAP; past it,
    ``total_capped`` is set and ``total`` is CAP. ``suggestion`` is the
    corrected query when the one asked found nothing and these are the
    results for the correction."""

    query: str
    results: list = field(default_factory=list)
    total: int = 0
    total_capped: bool = False
    page: int = 1
    page_size: int = 25
    suggestion: str | None = None

    @property
    def num_pages(self):
        return math.ceil(self.total / self.page_size)

    @property
    def total_display(self):
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"


def search_repositories(
    *, query, actor, official=None, automated=None, sort="best", page=1, page_size=25
):
    """Repositories ``actor`` (a user, anonymous, or an access token) may
    read that match ``query``, one page of them.

    ``official`` and ``automated`` filter when True or False. ``sort`` is one
    of SORTS; "best" puts an exact name first, then official repositories,
    then name matches, then popularity. The words must all match, the last
    one as a prefix ("redis exp" finds redis-exporter). An empty query lists
    everything by ``sort``."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    page = max(1, int(page))
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    backend = _backend()
    parsed = _Query.parse(query)
    conditions = _conditions(actor, official, automated)
    found = _search(backend, parsed, conditions, sort, page, page_size, actor)
    if found.total == 0 and parsed.terms:
        corrected = _correct(backend, parsed)
        if corrected is not None:
            retry = _search(backend, corrected, conditions, sort, page, page_size, actor)
            if retry.total:
                retry.query = parsed.text
                retry.suggestion = corrected.text
                return retry
    return found


@transaction.atomic
def search_index_update(*, repository):
    """Index ``repository`` as it now stands in the database (its text, name,
    visibility, flags and counts). Call it in the transaction that changed it."""
    _backend().update(repository.pk)


@transaction.atomic
def search_index_refresh(*, repository_ids=None):
    """Refresh what ranks and filters (visibility, flags, stars, pulls,
    updated_at) of already indexed repositories, without their text: for a
    push, a star, a pull flush. Without ids, every repository pulled in the
    last RECENT_PULL_DAYS + 1 days, so recent pulls age out when run daily."""
    _backend().refresh(None if repository_ids is None else list(repository_ids))


@transaction.atomic
def search_index_remove(*, repository_id):
    """Take a repository out of the index; call it before deleting it."""
    _backend().remove(repository_id)


@transaction.atomic
def search_index_rebuild():
    """Index every repository afresh (after a restore, or for a benchmark)."""
    _backend().rebuild()


# Queries ------------------------------------------------------------------


@dataclass(frozen=True)
class _Count:
    total: int
    # Enough matches that walking a sort index finds a page quickly.
    plentiful: bool


@dataclass(frozen=True)
class _Query:
    text: str
    terms: tuple
    # The query read as a repository name: ("alice", "web") for "alice/web",
    # (None, "web") for "web"; None when it cannot be a name.
    exact: tuple | None

    @classmethod
    def parse(cls, text):
        text = (text or "").strip()
        unique = dict.fromkeys(w for w in words(text) if len(w) <= MAX_TERM_LENGTH)
        terms = tuple(unique)[:MAX_TERMS]
        lowered = text.lower()
        exact = None
        if _NAME_RE.match(lowered) and len(lowered) <= 255:
            namespace, slash, name = lowered.partition("/")
            exact = (namespace, name) if slash else (None, lowered)
        return cls(text, terms, exact)

    @property
    def browse(self):
        return not self.text

    def exact_condition(self):
        namespace, name = self.exact
        if namespace is None:
            return "e.name = %s", [name]
        return "(e.namespace = %s AND e.name = %s)", [namespace, name]


def _conditions(actor, official, automated):
    """SQL and params limiting entries ``e`` to what ``actor`` may read and the
    filters ask for. What a signed-in caller may read beyond the public
    repositories is Repository.objects.visible_to's answer, as a subquery."""
    if permissions.is_anonymous(actor):
        where, params = ["e.is_public"], []
    else:
        private = (
            Repository.objects.visible_to(actor).filter(visibility=Visibility.PRIVATE).values("pk")
        )
        sql, params = private.query.sql_with_params()
        where, params = [f"(e.is_public OR e.repository_id IN ({sql}))"], list(params)
    if official is not None:
        where.append("e.is_official" if official else "NOT e.is_official")
    if automated is not None:
        where.append("e.is_automated" if automated else "NOT e.is_automated")
    return " AND ".join(where), params


def _search(backend, parsed, conditions, sort, page, page_size, actor):
    found = SearchResults(query=parsed.text, page=page, page_size=page_size)
    if parsed.text and not parsed.terms:
        return found  # punctuation only: nothing to look for
    counted = backend.count(parsed, conditions)
    found.total = min(counted.total, CAP)
    found.total_capped = counted.total > CAP
    offset = (page - 1) * page_size
    if offset >= found.total:
        return found
    limit = min(page_size, CAP - offset)
    ids = backend.page(parsed, conditions, sort, offset, limit, walk=counted.plentiful)
    found.results = _load(backend, ids, parsed, actor)
    return found


def _load(backend, ids, parsed, actor):
    """The page's repositories in ``ids`` order, highlighted. Loaded through
    visible_to again: the index decided, this only makes sure."""
    repositories = (
        Repository.objects.visible_to(actor).select_related("namespace").filter(pk__in=ids)
    )
    repositories = backend.with_highlights(repositories, parsed)
    by_id = {repository.pk: repository for repository in repositories}
    return [by_id[pk] for pk in ids if pk in by_id]


def _correct(backend, parsed):
    """``parsed`` with each term that matches nothing replaced by the closest
    word of the vocabulary, or None when no term could be corrected."""
    replacements = {}
    for position, term in enumerate(parsed.terms, start=1):
        if len(term) < MIN_TYPO_LENGTH:
            continue
        # A lone term that found nothing needs no asking whether it exists.
        prefix = position == len(parsed.terms)
        if len(parsed.terms) > 1 and backend.term_exists(term, prefix):
            continue
        best = _closest(term, backend.candidates(term))
        if best is not None:
            replacements[term] = best
    if not replacements:
        return None
    text = _WORD_RE.sub(
        lambda match: replacements.get(match.group().lower(), match.group()), parsed.text
    )
    return _Query.parse(text)


def _closest(term, candidates):
    """The candidate ``(word, count)`` fewest edits from ``term``, the most
    used among equals; None when none is close enough."""
    limit = 1 if len(term) <= 4 else 2
    scored = []
    for word, count in candidates:
        distance = edit_distance(term, word, limit)
        if distance <= limit:
            scored.append((distance, -count, word))
    return min(scored)[2] if scored else None


def edit_distance(a, b, limit):
    """Optimal string alignment distance between ``a`` and ``b`` (insertions,
    deletions, substitutions, adjacent transpositions), or ``limit + 1`` as soon
    as it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2 = None
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _marked(text):
    """``text`` from ts_headline as safe HTML: escaped, then our marks made <mark>."""
    html = escape(text or "")
    for mark, replacement in [(_START, "<mark>"), (_STOP, "</mark>"), (_LT, "&lt;"), (_GT, "&gt;")]:
        html = html.replace(mark, replacement)
    return mark_safe(html)


def highlight(text, terms):
    """``text`` as safe HTML with the words that match ``terms`` (the last as
    a prefix) in <mark>."""
    parts, last = [], 0
    if terms:
        whole, prefix = set(terms[:-1]), terms[-1]
        for match in _WORD_RE.finditer(text):
            word = match.group().lower()
            if word in whole or word.startswith(prefix):
                parts.append(escape(text[last : match.start()]))
                parts.append(f"<mark>{escape(match.group())}</mark>")
                last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))


def _exact_first(parsed):
    """The ORDER BY term (with its params) that puts an exact name first."""
    if not parsed.exact:
        return "", []
    condition, params = parsed.exact_condition()
    return f"{condition} DESC, ", params


def _placeholders(values):
    return ", ".join(["%s"] * len(values))


def _recent_since():
    return timezone.now().date() - timedelta(days=RECENT_PULL_DAYS)


def _name_words(name):
    return {w[:255] for w in words(name or "")}


def _vocabulary_adjust(cursor, old_name, new_name):
    """Count the words of a repository's new name in, and its old name's out.
    In sorted order, so concurrent updates lock words in the same order."""
    old, new = _name_words(old_name), _name_words(new_name)
    for word in sorted(new - old):
        cursor.execute(
            f"INSERT INTO {WORD} (word, count) VALUES (%s, 1) "
            f"ON CONFLICT (word) DO UPDATE SET count = {WORD}.count + 1",
            [word],
        )
    for word in sorted(old - new):
        cursor.execute(f"UPDATE {WORD} SET count = count - 1 WHERE word = %s", [word])


# Backends -----------------------------------------------------------------


class _Backend:
    """What both databases share: the entry table's columns and upkeep."""

    # Extra columns (name, SQL) each backend fills when it writes an entry.
    text_columns = ()

    def upsert_sql(self, where):
        columns = [
            ("namespace", "n.name"),
            ("name", "r.name"),
            ("is_public", "r.visibility = %s"),
            ("is_official", "r.is_official"),
            ("is_automated", "r.is_automated"),
            ("star_count", "r.star_count"),
            ("pull_count", "r.pull_count"),
            ("popularity", POPULARITY),
            ("updated_at", "r.updated_at"),
            *self.text_columns,
        ]
        names = ", ".join(name for name, _ in columns)
        values = ", ".join(value for _, value in columns)
        updates = ", ".join(f"{name} = excluded.{name}" for name, _ in columns)
        sql = (
            f"INSERT INTO {ENTRY} (repository_id, {names}) "
            f"SELECT r.id, {values} FROM {REPOSITORY} r "
            f"JOIN {NAMESPACE} n ON n.id = r.namespace_id "
            f"WHERE ({where}) AND NOT r.is_pending "
            f"ON CONFLICT (repository_id) DO UPDATE SET {updates}"
        )
        return sql, [Visibility.PUBLIC, _recent_since()]

    def update(self, repository_id):
        with connection.cursor() as cursor:
            if not self.lock(cursor, repository_id):
                self.remove(repository_id)
                return
            cursor.execute(f"SELECT name FROM {ENTRY} WHERE repository_id = %s", [repository_id])
            old = cursor.fetchone()
            sql, params = self.upsert_sql("r.id = %s")
            cursor.execute(sql, [*params, repository_id])
            self.write_text(cursor, [repository_id])
            cursor.execute(f"SELECT name FROM {ENTRY} WHERE repository_id = %s", [repository_id])
            _vocabulary_adjust(cursor, old and old[0], cursor.fetchone()[0])

    def lock(self, cursor, repository_id):
        """Whether the repository exists and has content (a pending one is
        nobody's to find); locks it where the database can, so two updates of
        one repository count its words once."""
        cursor.execute(
            f"SELECT 1 FROM {REPOSITORY} WHERE id = %s AND NOT is_pending", [repository_id]
        )
        return cursor.fetchone() is not None

    def write_text(self, cursor, repository_ids):
        pass

    def remove(self, repository_id):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT name FROM {ENTRY} WHERE repository_id = %s", [repository_id])
            old = cursor.fetchone()
            cursor.execute(f"DELETE FROM {ENTRY} WHERE repository_id = %s", [repository_id])
            self.remove_text(cursor, repository_id)
            if old:
                _vocabulary_adjust(cursor, old[0], None)

    def remove_text(self, cursor, repository_id):
        pass

    def refresh(self, repository_ids):
        if repository_ids is None:
            where = (
                f"r.id IN (SELECT repository_id FROM {PULL_DAY} WHERE day >= %s)",
                [_recent_since() - timedelta(days=1)],
            )
        elif not repository_ids:
            return
        else:
            where = (f"r.id IN ({_placeholders(repository_ids)})", repository_ids)
        sql = (
            f"UPDATE {ENTRY} AS e SET is_public = r.visibility = %s, "
            "is_official = r.is_official, is_automated = r.is_automated, "
            "star_count = r.star_count, pull_count = r.pull_count, "
            f"popularity = {POPULARITY}, updated_at = r.updated_at "
            f"FROM {REPOSITORY} r WHERE r.id = e.repository_id AND {where[0]}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [Visibility.PUBLIC, _recent_since(), *where[1]])

    def count(self, parsed, conditions):
        """How many match: exactly, up to CAP + 1."""
        sql, params = self.matches_sql(parsed, conditions)
        total = self.scalar(f"SELECT count(*) FROM ({sql} LIMIT %s) capped", [*params, CAP + 1])
        return _Count(total, plentiful=True)

    def matches_sql(self, parsed, conditions):
        match, params = self.match(parsed)
        where, where_params = conditions
        return f"SELECT 1 FROM {ENTRY} e WHERE {match} AND {where}", [*params, *where_params]

    def page(self, parsed, conditions, sort, offset, limit, walk=True):
        """The ids of one page of matches in ``sort`` order. ``walk`` says
        matches are plentiful enough to find by walking a sort index."""
        if sort == "best" and not parsed.browse:
            return self.best_page(parsed, conditions, offset, limit, walk)
        match, params = self.match(parsed)
        sql, params = self.top(match, params, conditions, SORT_ORDERS[sort], walk)
        return self.column(f"{sql} OFFSET %s", [*params, limit, offset])

    def top(self, condition, params, conditions, order, walk):
        """SQL for the first rows (LIMIT is the last parameter, left to the
        caller) that match ``condition`` and ``conditions``, by ``order``."""
        where, where_params = conditions
        sql = (
            f"SELECT e.repository_id FROM {ENTRY} e WHERE {condition} AND {where} "
            f"ORDER BY {order} LIMIT %s"
        )
        return sql, [*params, *where_params]

    def scalar(self, sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    def column(self, sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]


class _PostgreSQL(_Backend):
    """tsvector columns on the entry: ``title`` (name A, namespace B) and
    ``document`` (title, description C, full description D), GIN indexed;
    the vocabulary has a trigram index. Text is reduced to words the same way
    queries are (see words()), so "redis.io" is found by "redis"."""

    CONFIG = "'simple'"
    # Long READMEs are indexed by their beginning (tsvector positions stop at
    # 16,383 anyway).
    FULL_DESCRIPTION_INDEXED = 100_000
    HEADLINE_OPTIONS = f"StartSel={_START}, StopSel={_STOP}, HighlightAll=true"

    @classmethod
    def vector(cls, expression, weight):
        words = f"regexp_replace({expression}, '[^[:alnum:]]+', ' ', 'g')"
        return f"setweight(to_tsvector({cls.CONFIG}, {words}), '{weight}')"

    @property
    def text_columns(self):
        title = f"{self.vector('r.name', 'A')} || {self.vector('n.name', 'B')}"
        full = f"left(r.full_description, {self.FULL_DESCRIPTION_INDEXED})"
        document = f"{title} || {self.vector('r.description', 'C')} || {self.vector(full, 'D')}"
        return (("title", title), ("document", document))

    @staticmethod
    def tsquery(terms, prefix=True):
        # Terms are letters and digits only, so they need no quoting. Only
        # the last may be a prefix: a common prefix in GIN means reading every
        # posting of every word it starts, while a whole word is skipped
        # through.
        return " & ".join([*terms[:-1], f"{terms[-1]}:*" if prefix else terms[-1]])

    def match(self, parsed, column="document"):
        if parsed.browse:
            return "TRUE", []
        return f"e.{column} @@ to_tsquery({self.CONFIG}, %s)", [self.tsquery(parsed.terms)]

    def lock(self, cursor, repository_id):
        cursor.execute(
            f"SELECT 1 FROM {REPOSITORY} WHERE id = %s AND NOT is_pending FOR UPDATE",
            [repository_id],
        )
        return cursor.fetchone() is not None

    def top(self, condition, params, conditions, order, walk):
        if walk:
            return super().top(condition, params, conditions, order, walk)
        # Few matches: fetch them all through GIN and sort them. The planner
        # would often walk the sort index instead, and its cost model cannot
        # see that each step of that walk is a random heap read.
        where, where_params = conditions
        sql = (
            f"WITH matches AS MATERIALIZED (SELECT {', '.join(SORT_COLUMNS)} FROM {ENTRY} e "
            f"WHERE {condition} AND {where}) "
            f"SELECT e.repository_id FROM matches e ORDER BY {order} LIMIT %s"
        )
        return sql, [*params, *where_params]

    def best_page(self, parsed, conditions, offset, limit, walk):
        order = SORT_ORDERS["best"]

        def top(condition, params, walk=True):
            sql, params = self.top(condition, params, conditions, order, walk)
            return f"({sql})", [*params, offset + limit]

        title, title_params = self.match(parsed, "title")
        document, document_params = self.match(parsed, "document")
        # The name-match walk never leaves the index (see the migration).
        walks = [top(title, title_params), top(document, document_params, walk)]
        exact, exact_params = _exact_first(parsed)
        if parsed.exact:
            walks.insert(0, top(*parsed.exact_condition()))
        sql = (
            f"SELECT e.repository_id FROM {ENTRY} e WHERE e.repository_id IN ("
            + " UNION ".join(sql for sql, _ in walks)
            + f") ORDER BY {exact}e.is_official DESC, {title} DESC, "
            "e.popularity DESC, e.repository_id DESC LIMIT %s OFFSET %s"
        )
        params = [p for _, walk_params in walks for p in walk_params]
        return self.column(sql, [*params, *exact_params, *title_params, limit, offset])

    def with_highlights(self, repositories, parsed):
        if parsed.browse:
            return [_plain(repository) for repository in repositories]
        query = self.tsquery(parsed.terms)

        def headline(column):
            return RawSQL(
                f"ts_headline({self.CONFIG}, translate({REPOSITORY}.{column}, %s, %s), "
                f"to_tsquery({self.CONFIG}, %s), %s)",
                ["<>" + _START + _STOP + _LT + _GT, _LT + _GT, query, self.HEADLINE_OPTIONS],
            )

        repositories = list(
            repositories.annotate(
                _name_headline=headline("name"), _description_headline=headline("description")
            )
        )
        for repository in repositories:
            repository.name_highlight = _marked(repository._name_headline)
            repository.description_highlight = _marked(repository._description_headline)
        return repositories

    def term_exists(self, term, prefix):
        return self.scalar(
            f"SELECT EXISTS (SELECT 1 FROM {ENTRY} e "
            f"WHERE e.document @@ to_tsquery({self.CONFIG}, %s))",
            [self.tsquery([term], prefix)],
        )

    def candidates(self, term):
        """Vocabulary words that share enough trigrams with ``term``, through
        the trigram index. The threshold is low on purpose: a transposition in
        a short word ("nignx") leaves few trigrams in common, and the edit
        distance decides afterwards."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL pg_trgm.similarity_threshold = 0.15")
            cursor.execute(
                f"SELECT word, count FROM {WORD} WHERE word %% %s AND count > 0 "
                "ORDER BY similarity(word, %s) DESC, count DESC LIMIT 50",
                [term, term],
            )
            return cursor.fetchall()

    # Past this many matches (as the planner estimates them, which with the
    # raised statistics target it does well) a count stops being exact: even
    # up to CAP it would read thousands of rows. And from here on walking a
    # sort index finds a page sooner than fetching every match.
    PLENTIFUL = 5 * CAP

    def count(self, parsed, conditions):
        estimate = self.estimate(*self.matches_sql(parsed, conditions))
        if estimate > self.PLENTIFUL:
            return _Count(estimate, plentiful=True)
        total = super().count(parsed, conditions).total
        plentiful = False
        if total > CAP and len(parsed.terms) > 1:
            # The planner takes words as independent, so words that go
            # together ("spring boot") may match far more often than it
            # thinks. The rarest of them bounds how often.
            where, where_params = conditions
            bound = min(
                self.estimate(
                    f"SELECT 1 FROM {ENTRY} e WHERE e.document @@ to_tsquery({self.CONFIG}, %s) "
                    f"AND {where}",
                    [self.tsquery([term], prefix=term == parsed.terms[-1]), *where_params],
                )
                for term in parsed.terms
            )
            plentiful = bound > self.PLENTIFUL
        return _Count(total, plentiful)

    def estimate(self, sql, params):
        """How many rows the planner expects ``sql`` to return."""
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])

    def rebuild(self):
        with connection.cursor() as cursor:
            # TRUNCATE refuses to run while deferred foreign key checks wait.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {ENTRY}, {WORD}")
            # Loading is faster with the indexes built once at the end.
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            cursor.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = %s::regclass AND NOT indisprimary AND NOT indisunique",
                [ENTRY],
            )
            indexes = cursor.fetchall()
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")
            sql, params = self.upsert_sql("TRUE")
            cursor.execute(sql, params)
            cursor.execute(
                f"INSERT INTO {WORD} (word, count) SELECT word, count(*) FROM ("
                f"SELECT DISTINCT e.repository_id, left(word, 255) AS word FROM {ENTRY} e, "
                "regexp_split_to_table(lower(e.name), '[^[:alnum:]]+') AS word"
                ") words WHERE word <> '' GROUP BY word"
            )
            for _, definition in indexes:
                cursor.execute(definition)


class _SQLite(_Backend):
    """An FTS5 table beside the entries, rowid = repository id. It keeps its
    own copy of the text (neither contentless nor external content), because
    then a row can be deleted by rowid alone: the services call us after the
    repository has changed, when its old text is gone."""

    def match(self, parsed, columns=None):
        if parsed.browse:
            return "1 = 1", []
        return (
            f"e.repository_id IN (SELECT rowid FROM {TEXT} WHERE {TEXT} MATCH %s)",
            [self.fts_query(parsed.terms, columns)],
        )

    @staticmethod
    def fts_query(terms, columns=None, prefix=True):
        # Quoted, so that words like AND, OR and NOT are words; only the last
        # may be a prefix, as on PostgreSQL.
        query = " ".join([*(f'"{term}"' for term in terms[:-1]), f'"{terms[-1]}"'])
        if prefix:
            query += "*"
        return f"{{{' '.join(columns)}}} : ({query})" if columns else query

    def best_page(self, parsed, conditions, offset, limit, walk):
        match, params = self.match(parsed)
        title, title_params = self.match(parsed, ("name", "namespace"))
        exact, exact_params = _exact_first(parsed)
        where, where_params = conditions
        sql = (
            f"SELECT e.repository_id FROM {ENTRY} e WHERE {match} AND {where} "
            f"ORDER BY {exact}e.is_official DESC, {title} DESC, "
            "e.popularity DESC, e.repository_id DESC LIMIT %s OFFSET %s"
        )
        return self.column(
            sql, [*params, *where_params, *exact_params, *title_params, limit, offset]
        )

    def write_text(self, cursor, repository_ids):
        placeholders = _placeholders(repository_ids)
        cursor.execute(f"DELETE FROM {TEXT} WHERE rowid IN ({placeholders})", repository_ids)
        cursor.execute(
            f"INSERT INTO {TEXT} (rowid, name, namespace, description, full_description) "
            f"SELECT r.id, r.name, n.name, r.description, r.full_description "
            f"FROM {REPOSITORY} r JOIN {NAMESPACE} n ON n.id = r.namespace_id "
            f"WHERE r.id IN ({placeholders})",
            repository_ids,
        )

    def remove_text(self, cursor, repository_id):
        cursor.execute(f"DELETE FROM {TEXT} WHERE rowid = %s", [repository_id])

    def with_highlights(self, repositories, parsed):
        terms = tuple(parsed.terms)
        repositories = list(repositories)
        for repository in repositories:
            repository.name_highlight = highlight(repository.name, terms)
            repository.description_highlight = highlight(repository.description, terms)
        return repositories

    def term_exists(self, term, prefix):
        return self.scalar(
            f"SELECT EXISTS (SELECT 1 FROM {TEXT} WHERE {TEXT} MATCH %s)",
            [self.fts_query([term], prefix=prefix)],
        )

    # Words of a similar length, most used first; enough for any embedded
    # installation, and a bound on the work for a typo.
    CANDIDATE_LIMIT = 5000

    def candidates(self, term):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT word, count FROM {WORD} WHERE count > 0 "
                "AND length(word) BETWEEN %s AND %s ORDER BY count DESC LIMIT %s",
                [len(term) - 2, len(term) + 2, self.CANDIDATE_LIMIT],
            )
            return cursor.fetchall()

    def rebuild(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {ENTRY}")
            cursor.execute(f"DELETE FROM {WORD}")
            cursor.execute(f"DELETE FROM {TEXT}")
            sql, params = self.upsert_sql("1 = 1")
            cursor.execute(sql, params)
            cursor.execute(
                f"INSERT INTO {TEXT} (rowid, name, namespace, description, full_description) "
                f"SELECT r.id, r.name, n.name, r.description, r.full_description "
                f"FROM {REPOSITORY} r JOIN {NAMESPACE} n ON n.id = r.namespace_id "
                "WHERE NOT r.is_pending"
            )
            cursor.execute(f"SELECT name FROM {ENTRY}")
            counts = {}
            for (name,) in cursor.fetchall():
                for word in _name_words(name):
                    counts[word] = counts.get(word, 0) + 1
            cursor.executemany(
                f"INSERT INTO {WORD} (word, count) VALUES (%s, %s)", sorted(counts.items())
            )


def _plain(repository):
    repository.name_highlight = escape(repository.name)
    repository.description_highlight = escape(repository.description)
    return repository


def _backend():
    if connection.vendor == "postgresql":
        return _PostgreSQL()
    if connection.vendor == "sqlite":
        return _SQLite()
    raise NotImplementedError(f"search does not support {connection.vendor}")
