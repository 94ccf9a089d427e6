"""Fixtures of the background-job tests (defined in tests/e2e/background.py) and of the tests
with real worker processes (tests/e2e/world.py)."""

import pytest

from tests.e2e.background import env, rt  # noqa: F401
from tests.e2e.world import world_for  # noqa: F401


@pytest.fixture
def stub():
    """The stub WeCom/DingTalk servers on 127.0.0.1 (tests/stubs/platform_server.py)."""
    from tests.stubs.platform_server import PlatformStub

    with PlatformStub() as server:
        yield server
