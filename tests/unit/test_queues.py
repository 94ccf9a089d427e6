"""Which job goes on which RQ queue, and how much of a robot's budget each push may take."""

from __future__ import annotations

from bot import delivery
from bot.config import Settings
from bot.queue import (
    LINKS_QUEUE,
    PUSH_JOB,
    QUEUE_NAME,
    URGENT_QUEUE,
    WORKER_QUEUES,
    queue_name_for,
)


def test_review_notices_replies_and_the_drain_go_first_link_checks_apart():
    assert queue_name_for(PUSH_JOB, QUEUE_NAME, "review") == URGENT_QUEUE
    assert queue_name_for(PUSH_JOB, QUEUE_NAME, "reply") == URGENT_QUEUE
    for kind in ("binding", "reminder", "escalation", "ranking", "notice"):
        assert queue_name_for(PUSH_JOB, QUEUE_NAME, kind) == QUEUE_NAME
    assert queue_name_for("bot.delivery_jobs.drain_outbox", QUEUE_NAME) == URGENT_QUEUE
    assert queue_name_for("bot.jobs.check_links", QUEUE_NAME) == LINKS_QUEUE
    assert queue_name_for("bot.jobs.export_district", QUEUE_NAME) == QUEUE_NAME
    assert WORKER_QUEUES == (URGENT_QUEUE, QUEUE_NAME)  # urgent first
    assert LINKS_QUEUE not in WORKER_QUEUES  # a worker of its own


def test_chatter_leaves_a_quarter_of_a_robots_budget_to_review_notices():
    s = Settings()
    robot = delivery.Route("wecom_webhook", "wecom", "r", "x", url="u")
    session = delivery.session_route("u", 0, "chat")
    assert delivery.budget_limit(s, robot, "review") == 20
    assert delivery.budget_limit(s, robot, "binding") == 15
    assert delivery.budget_limit(s, robot, "reminder") == 15
    assert delivery.budget_limit(s, session, "reply") == delivery.SESSION_PER_MINUTE
    assert delivery.budget_limit(s.with_(robot_per_minute=1), robot, "binding") == 1
