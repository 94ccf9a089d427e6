"""schemathesis against /api/v1: no server error, and no response that breaks the OpenAPI
document the API itself serves at /api/v1/openapi.json.

Driven through schemathesis's Python API (operation strategies + hypothesis) rather than its
pytest lazy-schema plugin, which does not run under pytest 9.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from bot.messages import Incoming
from tests.http.conftest import API_TOKEN

OPERATIONS = [
    ("/overview", False),
    ("/departments", False),
    ("/behind", False),
    ("/indicators", True),
    ("/indicators/{indicator_id}", True),
    ("/assignments", True),
    ("/audit", True),
]
CASES = [(path, GenerationMode.POSITIVE) for path, _ in OPERATIONS] + [
    (path, GenerationMode.NEGATIVE) for path, has_params in OPERATIONS if has_params
]


def seed(rt) -> None:
    """Some state worth describing: links, paper, a return with markup, a new binding."""
    for text, user, admin in [
        ("提交 2 https://www.example.gov.cn/a.html 实施方案", "lisi", False),
        ("纸质 2 2019年台账", "lisi", False),
        ("完成 2", "lisi", False),
        ("退回 2 行政审批局 缺少<script>说明</script>", "admin", True),
        ("星标 7", "admin", True),
        ("绑定 司法局", "newcomer", False),
        ("说明 3 见附件", "zhangsan", False),
    ]:
        rt.dispatcher.handle(Incoming("sandbox", user, text, mentioned=True, is_admin=admin))


@pytest.mark.parametrize(("path", "mode"), CASES, ids=[f"{p} {m.value}" for p, m in CASES])
def test_api_conforms_to_its_document(web_app, web_rt, path, mode):
    seed(web_rt)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", web_app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().path == path)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
            # the case is about a missing or broken Authorization header: send it as it is
            case.call_and_validate()
        else:
            case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"})

    check()
