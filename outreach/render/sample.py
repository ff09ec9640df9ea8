"""The sample reader that previews and test renders are personalised for."""

from outreach.models import Recipient

SAMPLE_RECIPIENT = Recipient(
    email="ana.rivera@example.org",
    first_name="Ana",
    last_name="Rivera",
    organisation="Hampton Roads Early Head Start",
    role="home visitor",
    region="Hampton Roads",
    language="en",
)
