"""Finding people: search by address, name or organisation, filter, and page through 1,000,000 rows.

The admin app's subscribers page, the API and the command line ask the same questions, so they live
here. Choices that keep every page fast at a million subscribers (migration 0201 adds the indexes):

- The order is fixed and stable: newest first (``id`` descending), so page N always means the same
  rows while nobody joins.
- A page is two queries: the ids (``LIMIT``/``OFFSET`` over an index, so page 500 steps over 25,000
  index entries and reads no rows), then those few rows.
- A search matches the *start* of the address, first name, last name or organisation ("ana",
  "ana@exa", "child" for "Children's Hospital"); every word typed must match. A B-tree answers a
  prefix; "contains" would read every row.
- The total is counted up to ``COUNT_CAP``: past that the page says "more than 10,000" rather than
  spend a second counting a million rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.schema import Subscriber, SubscriberStatus, SubscriberTopic, Suppression
from outreach.audience.segment_sql import compile_rule
from outreach.audience.segments import Rule
from outreach.audience.subscribers import mailable_clause

PER_PAGE = 50
COUNT_CAP = 10_000
# A search counts less far: its matches may be scattered, and a count reads rows until the cap.
SEARCH_COUNT_CAP = 1_000
# A search word with more index entries than this is looked for by reading rows (``_plan``).
DENSE = 20_000
MAX_PAGE = 100_000
MAX_WORDS = 4
MAX_WORD = 100
# The built-in segment ``all``: everyone who may be mailed.
MAILABLE = "all"


@dataclass(frozen=True)
class SubscriberFilter:
    """What the list is narrowed to; empty fields narrow nothing.

    ``segment`` is a compiled rule (or ``MAILABLE`` for the built-in ``all``): the caller reads
    segments.yaml, this module never touches files. A segment means who it would mail (mailable only),
    as when a campaign is sent.
    """

    text: str = ""
    topic: str = ""
    segment: Rule | str | None = None
    status: str = ""
    language: str = ""

    @property
    def words(self) -> list[str]:
        return [w[:MAX_WORD] for w in self.text.split()][:MAX_WORDS]


@dataclass(frozen=True)
class Listed:
    """One row of the list: enough to recognise a person and open them."""

    id: int
    email: str | None
    first_name: str
    last_name: str
    organisation: str
    role: str
    language: str
    status: str


@dataclass(frozen=True)
class ResultPage:
    rows: list[Listed]
    page: int
    per_page: int
    has_next: bool
    total: int  # counted up to COUNT_CAP + 1
    capped: bool  # there are more than COUNT_CAP

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def last_page(self) -> int | None:
        """The last page's number when the total is known exactly."""
        return None if self.capped else max(1, -(-self.total // self.per_page))


def _upper_bound(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix`` (binary order)."""
    return prefix + "\U0010ffff"


def starts_with(expr: Any, prefix: str, dialect: str) -> sa.ColumnElement[bool]:
    """``expr`` begins with ``prefix``, in the form each database answers from a B-tree.

    SQLite: a range (its LIKE is case-insensitive and would skip a binary index). PostgreSQL: LIKE
    with the wildcards escaped, answered by the ``pattern_ops`` indexes in any collation.
    """
    if dialect == "postgresql":
        # The whole pattern as one value: the planner sees its fixed start and uses the index.
        escaped = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_")
        return expr.like(escaped + "%", escape="/")  # type: ignore[no-any-return]
    return sa.and_(expr >= prefix, expr < _upper_bound(prefix))


def _spellings(word: str, dialect: str) -> list[str]:
    """The lower-case forms ``word`` may be stored as, as the database's ``lower()`` writes them.

    PostgreSQL lowers every letter; SQLite's ``lower()`` only ASCII ones, so "Ángela" is stored
    (lowered) as "Ángela" and typed either way it must be looked up both ways.
    """
    found = [word.lower()]
    if dialect == "sqlite":
        ascii_only = "".join(c.lower() if c.isascii() else c for c in word)
        if ascii_only not in found:
            found.append(ascii_only)
    return found


def _terms(word: str, dialect: str, indexed: bool = True) -> list[sa.ColumnElement[bool]]:
    """The ways one typed word matches: the start of the address, first name, last name or organisation.

    ``indexed=False`` writes the same test in a form no index answers (``substr``), so that SQLite
    reads rows newest first and stops at the page's end (see ``_plan``).
    """
    columns: list[tuple[Any, str]] = [(Subscriber.email, word.lower())]
    for spelling in _spellings(word, dialect):
        columns.extend(
            (sa.func.lower(column), spelling)
            for column in (Subscriber.first_name, Subscriber.last_name, Subscriber.organisation)
        )
    if indexed:
        return [starts_with(expr, prefix, dialect) for expr, prefix in columns]
    return [sa.func.substr(expr, 1, len(prefix)) == prefix for expr, prefix in columns]


def _plan(session: Session, words: list[str], dialect: str) -> tuple[list[sa.ColumnElement[bool]], bool]:
    """The search's conditions, written so the database takes the quick road; and whether an index
    drives them (then the rows found are sorted, rather than read in order).

    A rare word ("member99999") is found from the indexes: a few entries each, gathered, sorted.
    A common one ("pat", everyone's first name) is found faster by reading rows newest first and
    stopping at the page's end: gathering a million index entries to sort them is what would be
    slow. PostgreSQL's planner knows which is which from its statistics; SQLite's does not, so here
    each word's matches are counted from the indexes up to ``DENSE`` and only the rarest word, when
    it is rare, is left for an index to answer.
    """
    if dialect != "sqlite" or not words:
        return [sa.or_(*_terms(word, dialect)) for word in words], False
    estimates = [_estimate(session, word, dialect) for word in words]
    rarest = min(range(len(words)), key=lambda i: estimates[i])
    chosen = rarest if estimates[rarest] <= DENSE else None
    return [sa.or_(*_terms(word, dialect, indexed=i == chosen)) for i, word in enumerate(words)], (
        chosen is not None
    )


def _topic(session: Session, topic: str, dialect: str) -> tuple[sa.ColumnElement[bool], bool]:
    """The topic's condition, and whether its index drives the query (SQLite, a small topic).

    A topic most people have is checked row by row (one primary-key probe each) while reading newest
    first; a small one (or an empty one) is read from its index, as reading every row to find none
    would be slow. PostgreSQL's planner makes that choice itself.
    """
    if dialect == "sqlite":
        members = sa.select(SubscriberTopic.subscriber_id).where(SubscriberTopic.topic_key == topic)
        counted = sa.select(sa.func.count()).select_from(members.limit(DENSE + 1).subquery())
        if int(session.scalar(counted) or 0) <= DENSE:
            return Subscriber.id.in_(members), True
    # EXISTS, one primary-key probe per row: SQLite would otherwise build the whole IN list first
    # (a million entries for the newsletter topic) before reading the first page.
    probe = sa.exists().where(
        SubscriberTopic.subscriber_id == Subscriber.id, SubscriberTopic.topic_key == topic
    )
    return probe, False


def _estimate(session: Session, word: str, dialect: str) -> int:
    """How many index entries the word's terms cover, counted no further than ``DENSE + 1``."""
    total = 0
    for term in _terms(word, dialect):
        limited = sa.select(sa.literal(1)).select_from(Subscriber).where(term).limit(DENSE + 1 - total)
        total += int(session.scalar(sa.select(sa.func.count()).select_from(limited.subquery())) or 0)
        if total > DENSE:
            break
    return total


def conditions(wanted: SubscriberFilter, today: date, session: Session) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of a filter, over ``subscribers``."""
    return _conditions(wanted, today, session)[0]


def _conditions(
    wanted: SubscriberFilter, today: date, session: Session
) -> tuple[list[sa.ColumnElement[bool]], bool]:
    dialect = session.get_bind().dialect.name
    found, from_index = _plan(session, wanted.words, dialect)
    if wanted.status:
        found.append(Subscriber.status == SubscriberStatus(wanted.status))
    if wanted.language:
        found.append(Subscriber.language == wanted.language)
    if wanted.topic and not from_index:
        condition, from_index = _topic(session, wanted.topic, dialect)
        found.append(condition)
    elif wanted.topic:
        found.append(_topic(session, wanted.topic, "postgresql")[0])
    if wanted.segment is not None:
        if not isinstance(wanted.segment, str):
            found.append(compile_rule(wanted.segment, today))
        found.append(mailable_clause())
    return found, from_index


def find_subscribers(
    session: Session,
    wanted: SubscriberFilter,
    today: date,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> ResultPage:
    """One page of the people matching ``wanted``, newest first, and how many match (up to the cap)."""
    page = max(1, min(page, MAX_PAGE))
    where, from_index = _conditions(wanted, today, session)
    # When an index finds the few rows, sort them (``id + 0`` is not the table's order, so SQLite
    # does not walk the whole table in id order testing each row instead).
    order = (Subscriber.id + 0).desc() if from_index else Subscriber.id.desc()
    ids_query = (
        sa.select(Subscriber.id)
        .where(*where)
        .order_by(order)
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    ids = list(session.scalars(ids_query))
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    rows: list[Listed] = []
    if ids:
        found = session.execute(
            sa.select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.first_name,
                Subscriber.last_name,
                Subscriber.organisation,
                Subscriber.role,
                Subscriber.language,
                Subscriber.status,
            ).where(Subscriber.id.in_(ids))
        ).all()
        by_id = {row[0]: row for row in found}
        for subscriber_id in ids:
            r = by_id[subscriber_id]
            rows.append(Listed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], SubscriberStatus(r[7]).value))
    cap = SEARCH_COUNT_CAP if wanted.words else COUNT_CAP
    total = count_capped(session, where, cap)
    return ResultPage(rows, page, per_page, has_next, min(total, cap), total > cap)


def count_capped(session: Session, where: list[sa.ColumnElement[bool]], cap: int = COUNT_CAP) -> int:
    """How many rows match, counting no further than ``cap + 1``."""
    limited = sa.select(Subscriber.id).where(*where).limit(cap + 1).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(limited)) or 0)


# --- the suppression list -----------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressionRow:
    email: str | None
    email_hash: str
    reason: str
    note: str
    created_at: Any


def find_suppressions(
    session: Session, text: str = "", page: int = 1, per_page: int = PER_PAGE
) -> tuple[list[SuppressionRow], bool]:
    """One page of the suppression list, newest first; ``text`` matches the start of the address."""
    page = max(1, min(page, MAX_PAGE))
    dialect = session.get_bind().dialect.name
    query = sa.select(Suppression).order_by(Suppression.created_at.desc(), Suppression.email_hash)
    prefix = text.strip().lower()
    if prefix:
        query = query.where(starts_with(Suppression.email, prefix, dialect))
    found = list(session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page)))
    rows = [
        SuppressionRow(s.email, s.email_hash, s.reason.value, s.note, s.created_at) for s in found[:per_page]
    ]
    return rows, len(found) > per_page
