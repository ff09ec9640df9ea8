"""The workflows every front end shares: clear an issue for sending, plan, test, start and run a send.

The CLI, the admin app and the scheduler call these functions, so what one of them refuses the others
refuse too, and nothing a front end needs lives inside a front end.
"""

from outreach.operations.gate import Clearance, Purpose, SendRefused, clear, when
from outreach.operations.sending import (
    AudienceChanged,
    SendPlan,
    TestCopy,
    compose_one,
    plan_send,
    run_campaign,
    sample_message,
    send_test_copies,
    start_campaign,
)

__all__ = [
    "AudienceChanged",
    "Clearance",
    "Purpose",
    "SendPlan",
    "SendRefused",
    "TestCopy",
    "clear",
    "compose_one",
    "plan_send",
    "run_campaign",
    "sample_message",
    "send_test_copies",
    "start_campaign",
    "when",
]
