"""Fixtures of the background-job tests (defined in tests/e2e/background.py)."""

from tests.e2e.background import env, rt  # noqa: F401
