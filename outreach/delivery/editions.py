"""Which language edition each reader of a campaign gets, and where a campaign keeps its editions.

A campaign sends every edition of its issue (``outreach.content.editions``): the campaign row holds
the default edition, ``CampaignEdition`` rows the others. Each reader gets the edition in their
language (``Subscriber.language``, as they chose it at sign-up, in their preferences or in an
import) and the default where there is none. The choice is made in SQL when the audience is
snapshotted into the ledger (so the plan, the status and the report can count each edition before
anything is sent) and again, in Python with the same rules, when a row is claimed (so a reader who
switched language in between gets the one they read now). Either way the ledger keeps one row per
(campaign, subscriber): an edition is a property of the row, never a second row.

The rules, for a reader whose language is ``es-MX``: an edition in exactly that language; else one
whose primary language is the same (``es``, ``es-ES``), the default first; else the default. Case and
``_``/``-`` do not matter; a reader with no language gets the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from outreach.delivery.edition_choice import EditionChoice, EditionContent, normal_tag, primary_tag
from outreach.delivery.schema import Campaign, CampaignEdition


def choice_clause(
    choice: EditionChoice, language: sa.ColumnElement[str] | InstrumentedAttribute[str]
) -> sa.ColumnElement[str]:
    """The same choice as ``EditionChoice.for_reader``, as SQL over a reader's language column."""
    if not choice.others:
        return sa.literal(choice.default)
    normal = sa.func.lower(sa.func.replace(sa.func.coalesce(language, ""), "_", "-"))
    whens: list[tuple[sa.ColumnElement[bool], str]] = []
    for edition in choice.languages:
        whens.append((normal == normal_tag(edition), edition))
    for edition in choice.languages:
        primary = primary_tag(edition)
        whens.append((sa.or_(normal == primary, normal.like(f"{primary}-%")), edition))
    return sa.case(*whens, else_=sa.literal(choice.default))


def editions_of(session: Session, campaign_id: int) -> list[CampaignEdition]:
    """The campaign's editions beyond the default one, in language order."""
    return list(
        session.scalars(
            sa.select(CampaignEdition)
            .where(CampaignEdition.campaign_id == campaign_id)
            .order_by(CampaignEdition.language)
        )
    )


def choice_for(session: Session, campaign: Campaign) -> EditionChoice:
    """How the campaign's readers are split between its editions."""
    others = session.scalars(
        sa.select(CampaignEdition.language)
        .where(CampaignEdition.campaign_id == campaign.id)
        .order_by(CampaignEdition.language)
    )
    return EditionChoice(campaign.language, tuple(others))


def contents_of(session: Session, campaign_id: int) -> tuple[EditionContent, ...]:
    """The templates of the campaign's other editions, for composing."""
    return tuple(
        EditionContent(e.language, e.subject_source, e.html_source, e.text_source)
        for e in editions_of(session, campaign_id)
    )


def replace_editions(session: Session, campaign: Campaign, editions: Sequence[CampaignEdition]) -> None:
    """Make ``editions`` the campaign's other editions (a scheduled campaign re-rendered replaces
    them all). Call in the caller's transaction, with the campaign flushed."""
    session.execute(sa.delete(CampaignEdition).where(CampaignEdition.campaign_id == campaign.id))
    for edition in editions:
        edition.campaign_id = campaign.id
        session.add(edition)
    session.flush()


def web_templates(session: Session, campaign: Campaign, language: str | None) -> tuple[str, str, str] | None:
    """(subject, HTML, text) templates of one edition of a campaign, for its web copy: the default
    edition for no language or the default's own, None for a language the campaign was not sent in."""
    if not language or normal_tag(language) == normal_tag(campaign.language):
        return campaign.subject_source, campaign.html_source, campaign.text_source
    for edition in editions_of(session, campaign.id):
        if normal_tag(edition.language) == normal_tag(language):
            return edition.subject_source, edition.html_source, edition.text_source
    return None
