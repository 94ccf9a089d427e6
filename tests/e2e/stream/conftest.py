"""Fixtures of the intranet-mode tests: the stub platform server and the fake DingTalk Stream
gateway (the WeCom and Feishu tests start their own gateways)."""

from __future__ import annotations

import pytest

from tests.e2e.streams import DING_SECRET
from tests.stubs.platform_server import PlatformStub
from tests.stubs.stream_gateways import DingTalkGateway


@pytest.fixture
def stub():
    """The stub platform server: DingTalk replies arrive at its sessionWebhook."""
    with PlatformStub() as server:
        yield server


@pytest.fixture
def gateway():
    """The fake DingTalk Stream gateway."""
    with DingTalkGateway("ding-app-key", DING_SECRET) as gw:
        yield gw
