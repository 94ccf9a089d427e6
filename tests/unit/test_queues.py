"""Which job goes on which RQ queue, and how much of a robot's budget each push may take."""

from __future__ import annotations

from bot import delivery
from bot.config import Settings
from bot.queue import LINKS, MAIN, PUSH_JOB, URGENT, WORKERS, queue_kind_for


def test_review_notices_replies_and_the_drain_go_first_link_checks_apart():
    assert queue_kind_for(PUSH_JOB, "review") == URGENT
    assert queue_kind_for(PUSH_JOB, "reply") == URGENT
    for kind in ("binding", "reminder", "escalation", "ranking", "notice"):
        assert queue_kind_for(PUSH_JOB, kind) == MAIN
    assert queue_kind_for("bot.delivery_jobs.drain_outbox") == URGENT
    assert queue_kind_for("bot.jobs.check_links") == LINKS
    assert queue_kind_for("bot.jobs.export_district") is None  # the queue it was enqueued to
    assert WORKERS[MAIN] == (URGENT, MAIN)  # urgent first
    assert all(LINKS not in served for kind, served in WORKERS.items() if kind != LINKS)


def test_chatter_leaves_a_quarter_of_a_robots_budget_to_review_notices():
    s = Settings()
    robot = delivery.Route("wecom_webhook", "wecom", "r", "x", url="u")
    session = delivery.session_route("u", 0, "chat")
    assert delivery.budget_limit(s, robot, "review") == 20
    assert delivery.budget_limit(s, robot, "binding") == 15
    assert delivery.budget_limit(s, robot, "reminder") == 15
    assert delivery.budget_limit(s, session, "reply") == delivery.SESSION_PER_MINUTE
    assert delivery.budget_limit(s.with_(robot_per_minute=1), robot, "binding") == 1
