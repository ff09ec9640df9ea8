"""The live preview staff keep open while writing: ``outreach preview ISSUE``.

It serves the issue rendered for the sample reader at phone and desktop width, with its text part,
headers and size, and reloads the browser on every save of the issue, a template or outreach.toml.
"""

from outreach.preview.app import create_app
from outreach.preview.server import serve_preview

__all__ = ["create_app", "serve_preview"]
