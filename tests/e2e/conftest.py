"""Fixtures of the background-job tests (defined in tests/e2e/background.py) and of the tests
with real worker processes (tests/e2e/world.py)."""

from tests.e2e.background import env, rt  # noqa: F401
from tests.e2e.world import stub, world_for  # noqa: F401
