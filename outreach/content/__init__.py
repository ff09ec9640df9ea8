"""Reading an issue: front matter -> validated fields, Markdown -> blocks of HTML and text.

``read_issue(path)`` is the one entry; everything here is a pure function of the file's text.
"""

from outreach.content.issue import read_issue, read_issue_text

__all__ = ["read_issue", "read_issue_text"]
