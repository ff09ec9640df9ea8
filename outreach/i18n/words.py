"""Marking English text in Python code as a message to translate later, where the reader is known."""


def N_(message: str) -> str:
    """Mark ``message`` for the catalog and return it unchanged: the page or mail that shows it
    translates it (``{{ _(title) }}``) into its reader's language. ``pybabel extract`` finds it."""
    return message
