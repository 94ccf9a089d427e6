"""The business error every layer may raise: its text is shown to the user as it is."""


class UserError(Exception):
    """An expected refusal; its text is shown to the user as it is (Chinese, says what to type)."""
