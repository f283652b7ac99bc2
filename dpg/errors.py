"""Errors that reach a user: each says what went wrong and what to do, in one message."""


def path_problem(err: OSError) -> str:
    """An ``OSError`` (an output path that is a file, no permission, a full disk) in a few
    words with the path it concerns, e.g. ``File exists (out/a)``."""
    where = f" ({err.filename})" if err.filename else ""
    return f"{err.strerror or err}{where}"


class UserError(ValueError):
    """Bad input from the user (a photo with no person, a corrupt file, a malformed CSV row,
    a wrong checkpoint). The CLI prints it as one line and the app shows it in the page;
    neither shows a traceback."""
