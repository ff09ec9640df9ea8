"""The people who run the site: accounts, roles, passwords, the second factor, sessions, API tokens.

A library both front ends use: ``outreach users ...`` on the command line and the admin app.
"""

from outreach.accounts.schema import ROLE_ORDER, ApiToken, Role, User, UserSession

__all__ = ["ROLE_ORDER", "ApiToken", "Role", "User", "UserSession"]
