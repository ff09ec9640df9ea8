"""The admin web app: staff and admins run the newsletter from a browser (see ``outreach.admin.app``)."""
