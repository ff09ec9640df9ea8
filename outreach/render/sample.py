"""The sample readers that previews, test renders and the spam score are personalised for.

The named reader shows staff what most people see; the nameless one is the worst case (every
fallback of the greeting and the fields shows), which is what a spam filter must not trip on."""

from outreach.models import Recipient

SAMPLE_RECIPIENT = Recipient(
    email="ana.rivera@example.org",
    first_name="Ana",
    last_name="Rivera",
    organisation="Hampton Roads Early Head Start",
    role="home-visitor",  # a key of [audience] roles, as subscribers' rows hold it
    region="Hampton Roads",
    language="en",
)

NAMELESS_RECIPIENT = Recipient(email="reader@example.org")

SAMPLE_READERS = ((SAMPLE_RECIPIENT, "the sample reader"), (NAMELESS_RECIPIENT, "a reader with no name"))
