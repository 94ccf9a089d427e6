"""Fixtures of the background-job tests (defined in tests/e2e/background.py)."""

import pytest

from tests.e2e.background import env, rt  # noqa: F401


@pytest.fixture
def stub():
    """The stub WeCom/DingTalk servers on 127.0.0.1 (tests/stubs/platform_server.py)."""
    from tests.stubs.platform_server import PlatformStub

    with PlatformStub() as server:
        yield server
