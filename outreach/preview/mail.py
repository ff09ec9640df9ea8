"""The sample mail the live preview shows: the shared render of ``outreach.operations.sample``.

The admin app's Issues pages show the same render, so it lives in the library; the names stay
importable from here for the preview's own modules.
"""

from outreach.operations.sample import (
    GMAIL_CLIP_BYTES,
    SHOWN_HEADERS,
    WARN_BYTES,
    Failure,
    Fingerprint,
    Problem,
    Rendered,
    SampleMail,
    SamplePreview,
    SampleReader,
    SizeLevel,
    files_under,
    fingerprint,
    problems_of,
    render_sample,
    unexpected_failure,
)

__all__ = [
    "GMAIL_CLIP_BYTES",
    "SHOWN_HEADERS",
    "WARN_BYTES",
    "Failure",
    "Fingerprint",
    "Problem",
    "Rendered",
    "SampleMail",
    "SamplePreview",
    "SampleReader",
    "SizeLevel",
    "files_under",
    "fingerprint",
    "problems_of",
    "render_sample",
    "unexpected_failure",
]
