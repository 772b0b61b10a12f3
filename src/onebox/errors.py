"""The one error type the tooling raises for anything a user can fix."""


class OneboxError(Exception):
    """A failure with a message that says what is wrong and what to do."""
