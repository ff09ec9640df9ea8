"""The subscriber-facing web service: sign-up, confirmation, unsubscribe, preferences, archive, clicks.

See ``outreach.web.app.create_app`` and docs/web.md.
"""

from outreach.web.app import create_app

__all__ = ["create_app"]
