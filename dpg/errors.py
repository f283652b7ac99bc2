"""Errors that reach a user: each says what went wrong and what to do, in one message."""


class UserError(ValueError):
    """Bad input from the user (a photo with no person, a corrupt file, a malformed CSV row,
    a wrong checkpoint). The CLI prints it as one line and the app shows it in the page;
    neither shows a traceback."""
