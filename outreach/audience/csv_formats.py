"""The exports of the tools people move from: recognised by their headers, read as their documentation says.

Each tool says in its own way who left. Mailchimp writes one file per state (subscribed, unsubscribed,
cleaned) and marks the two others by their ``UNSUB_TIME`` and ``CLEAN_TIME`` columns; listmonk has a
``status`` column (``enabled``, ``disabled``, ``blocklisted``) and the custom fields as a JSON object
in ``attributes``; Mailcoach has ``unsubscribed_at`` and ``extra_attributes``; Buttondown has a
``subscriber_type`` (``regular``, ``unsubscribed``, ``spammy``...) and ``metadata``. Any other file
may have a plain ``status`` column. ``standing_of`` turns every such word into one ``Standing``; a
person who left is put on the suppression list by the importer, never made an active subscriber.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from outreach.audience.schema import SuppressionReason


@dataclass(frozen=True)
class ExportFormat:
    """A known tool's export: the headers that identify it and how its columns map (header key -> target)."""

    name: str
    signature: frozenset[str]
    columns: Mapping[str, str] = field(default_factory=dict)
    # A field whose being empty means "never confirmed" (Mailcoach leaves subscribed_at empty then).
    unconfirmed_without: str = ""


_MAILCHIMP_NOISE = [
    "leid",
    "euid",
    "memberrating",
    "gmtoff",
    "dstoff",
    "latitude",
    "longitude",
    "lastchanged",
    "optinip",
    "confirmip",
    "confirmtime",
    "unsubcampaigntitle",
    "unsubcampaignid",
    "unsubreason",
    "unsubreasonother",
    "cleancampaigntitle",
    "cleancampaignid",
]

FORMATS = (
    ExportFormat(
        "Mailchimp export",
        frozenset({"emailaddress", "memberrating"}),
        {
            **dict.fromkeys(_MAILCHIMP_NOISE, "ignore"),
            "optintime": "signup_date",
            "unsubtime": "unsubscribed_at",
            "cleantime": "cleaned_at",
            # Mailchimp's REGION and CC are where the address was seen (geo-IP), not our region.
            "region": "attributes.geo_region",
            "cc": "attributes.country_code",
            "timezone": "time_zone",
        },
    ),
    ExportFormat(
        "listmonk export",
        frozenset({"uuid", "email", "name", "attributes", "status"}),
        {"uuid": "ignore", "updatedat": "ignore", "createdat": "signup_date", "attributes": "attributes"},
    ),
    ExportFormat(
        "Mailcoach export",
        frozenset({"email", "firstname", "lastname", "tags", "subscribedat", "unsubscribedat"}),
        {"subscribedat": "signup_date", "extraattributes": "attributes"},
        unconfirmed_without="signup_date",
    ),
    ExportFormat(
        "Buttondown export",
        frozenset({"subscribertype"}),
        {
            "id": "ignore",
            "secondaryid": "ignore",
            "subscribertype": "status",
            "creationdate": "signup_date",
            "metadata": "attributes",
            # Buttondown's "source" is how the row got there (api, import, form), not a consent basis.
            "source": "attributes.source",
        },
    ),
)


def detect_format(header_keys: set[str]) -> ExportFormat | None:
    """The known export whose identifying headers are all present, or None."""
    return next((f for f in FORMATS if f.signature <= header_keys), None)


class Standing(StrEnum):
    """Where a row's person stands at the tool it came from."""

    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    BLOCKED = "blocked"
    UNCONFIRMED = "unconfirmed"
    INACTIVE = "inactive"


_STANDINGS: dict[Standing, list[str]] = {
    Standing.SUBSCRIBED: [
        "subscribed",
        "active",
        "enabled",
        "confirmed",
        "regular",
        "premium",
        "trialed",
        "unpaid",
        "gifted",
        "churning",
        "paused",
        "past-due",
        "opted-in",
        "optin",
        "opt-in",
        "member",
        "yes",
        "true",
        "1",
    ],
    Standing.UNSUBSCRIBED: ["unsubscribed", "unsubscribe", "opted-out", "optout", "opt-out", "unsubscriber"],
    Standing.BOUNCED: ["cleaned", "bounced", "bounce", "hard-bounce", "undeliverable", "invalid"],
    Standing.COMPLAINED: ["complained", "complaint", "spam", "spam-complaint", "abuse"],
    Standing.BLOCKED: ["blocklisted", "blacklisted", "blocked", "banned", "removed", "spammy", "suppressed"],
    Standing.UNCONFIRMED: ["unconfirmed", "pending", "unactivated", "not-confirmed", "double-opt-in-pending"],
    Standing.INACTIVE: [
        "disabled",
        "archived",
        "inactive",
        "transactional",
        "non-subscribed",
        "nonsubscribed",
        "no",
        "false",
        "0",
    ],
}
_BY_WORD = {word: standing for standing, words in _STANDINGS.items() for word in words}
KNOWN_STATUSES = tuple(sorted(_BY_WORD))

# Who left, and why they are suppressed: never mailed, never re-subscribed by a later import.
SUPPRESSED_AS = {
    Standing.UNSUBSCRIBED: SuppressionReason.UNSUBSCRIBED,
    Standing.BOUNCED: SuppressionReason.BOUNCED,
    Standing.COMPLAINED: SuppressionReason.COMPLAINED,
    Standing.BLOCKED: SuppressionReason.MANUAL,
}


_LIST_SPLIT = re.compile(r"[;|,]")
_WORD_GAPS = re.compile(r"[\s_]+")


def standing_of(status: str, unsubscribed_at: str = "", cleaned_at: str = "") -> Standing | None:
    """One row's standing from its status word and its unsubscribe and clean times; None: unknown word.

    A time in ``cleaned_at`` or ``unsubscribed_at`` means the person left, whatever the status says.
    """
    if cleaned_at.strip():
        return Standing.BOUNCED
    if unsubscribed_at.strip():
        return Standing.UNSUBSCRIBED
    word = _WORD_GAPS.sub("-", status.strip().casefold())
    if not word:
        return Standing.SUBSCRIBED
    return _BY_WORD.get(word)


def split_tags(text: str) -> list[str]:
    """Tags as every tool writes them: ``"board","donor"`` (Mailchimp), ``["a", "b"]`` (JSON),
    ``a;b`` (Mailcoach), ``a, b`` or ``a|b``."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list):
            return [str(item).strip() for item in items if str(item).strip()]
    if '"' in text:
        row = next(csv.reader(io.StringIO(text), skipinitialspace=True), [])
        return [item.strip() for item in row if item.strip()]
    return [part.strip() for part in _LIST_SPLIT.split(text) if part.strip()]


class NotAnObject(ValueError):
    """An attributes cell that is not a JSON object."""


def json_attributes(text: str) -> dict[str, str]:
    """listmonk's ``attributes``, Mailcoach's ``extra_attributes``, Buttondown's ``metadata``: a JSON
    object whose values become text (numbers and true/false as written, objects and lists as JSON)."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError:
        raise NotAnObject("is not valid JSON") from None
    if document == []:  # PHP writes an empty object as [] (Mailcoach)
        return {}
    if not isinstance(document, dict):
        raise NotAnObject('is not a JSON object like {"city": "Norfolk"}')
    values: dict[str, str] = {}
    for key, value in document.items():
        if value is None:
            continue
        values[str(key)] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return values
