"""Audience: subscribers, topics, consent, suppressions, segments (rules -> SQL), imports, exports.

The public API other stages call (delivery, events, web) is re-exported here; see docs/audience.md.
"""

from outreach.audience.addresses import InvalidAddress, email_hash, hash_of, normalise_email
from outreach.audience.consent import Consent, history
from outreach.audience.db import (
    check_schema_current,
    make_engine,
    make_sessions,
    transaction,
    upgrade,
)
from outreach.audience.gdpr import NothingHeld, erase, export_person
from outreach.audience.schema import (
    ConsentAction,
    ConsentMethod,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
)
from outreach.audience.segment_sql import EngagementHook, compile_rule, segment_query
from outreach.audience.segments import ALL, Segment, load_segments
from outreach.audience.site_keys import check_site_key
from outreach.audience.subscribers import (
    Profile,
    add_subscriber,
    add_topic,
    find_by_email,
    is_mailable,
    mailable_clause,
    remove_topic,
    stop_mailing,
    unsubscribe,
)
from outreach.audience.suppression import is_suppressed, suppress, unsuppress

__all__ = [
    "ALL",
    "Consent",
    "ConsentAction",
    "ConsentMethod",
    "EngagementHook",
    "InvalidAddress",
    "NothingHeld",
    "Profile",
    "Segment",
    "Subscriber",
    "SubscriberStatus",
    "SuppressionReason",
    "add_subscriber",
    "add_topic",
    "check_schema_current",
    "check_site_key",
    "compile_rule",
    "email_hash",
    "erase",
    "export_person",
    "find_by_email",
    "hash_of",
    "history",
    "is_mailable",
    "is_suppressed",
    "load_segments",
    "mailable_clause",
    "make_engine",
    "make_sessions",
    "normalise_email",
    "remove_topic",
    "segment_query",
    "stop_mailing",
    "suppress",
    "transaction",
    "unsubscribe",
    "unsuppress",
    "upgrade",
]
