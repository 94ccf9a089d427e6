"""Composition root: `create_app()` builds the Flask app from DUBAN_* settings (or given ones).

flask --app app run
gunicorn 'app:create_app()'
"""

from __future__ import annotations

from flask import Flask, jsonify, redirect, url_for

from bot import delivery
from bot.config import Settings
from bot.datadir import secret_key
from bot.runtime import Runtime, build_runtime
from bot.web import bodies, hooks

# How long work may wait before /healthz calls it stuck: a callback is answered within seconds
# (a minute at worst, by the scheduler's safety net); notices and pushes are swept every minute.
# An upload's whole body (up to DUBAN_FILE_MAX_MB) arrives within this; nginx buffers it first.
UPLOAD_DEADLINE_S = 60.0
STUCK_AFTER_S = {"inbox": 60, "outbox": 120, "pushes": 120}


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    rt = runtime or build_runtime(settings)
    app = Flask(__name__, static_folder=None)
    # Never a constant: without DUBAN_SECRET_KEY, a random key kept in the data directory and
    # shared by every process of it (bot/datadir.py).
    app.config["SECRET_KEY"] = settings.secret_key or secret_key(settings.data_dir)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["duban"] = rt
    app.wsgi_app = hooks.HookRoutes(app.wsgi_app, rt)  # callbacks skip Flask (bot/web/hooks.py)
    # Outermost: every body is read within a deadline first, so that slow clients cannot hold
    # the server's threads (bot/web/bodies.py).
    from bot.web import admin, api, fill, sandbox, signin

    # The fill-in page's upload alone may carry a file (DUBAN_FILE_MAX_MB), and more time.
    upload = (fill.is_upload, fill.upload_limit(settings), UPLOAD_DEADLINE_S)
    app.wsgi_app = bodies.BufferedBodies(app.wsgi_app, settings.max_body_bytes, larger=upload)

    app.register_blueprint(admin.bp)
    app.register_blueprint(fill.bp)
    app.register_blueprint(signin.bp)  # /m/signin: optional sign-in through the platform
    api.register(app)  # /api/v1 and /api/v1/campaigns/<id>
    app.register_blueprint(sandbox.bp)

    @app.get("/")
    def root():
        # Somewhere useful instead of "Not Found": the demo chat, or the office's pages.
        return redirect("/sandbox" if settings.demo else url_for("admin.overview"))

    @app.get("/healthz")
    def healthz():
        """ok: Redis answers, takes writes and no work is stuck; "degraded" (503) otherwise,
        saying what is wrong: Redis refusing writes (it cannot persist them: a full disk), or
        what waits: callbacks unanswered for more than a minute, a stalled outbox or push."""
        try:
            ages = rt.store.health.waiting_ages(delivery.GROUP)
            refused = rt.store.health.writes_refused()
            redis_ok = True
        except Exception:  # health must answer even when Redis is down
            ages, refused, redis_ok = {}, "", False
        stuck = {k: round(v) for k, v in ages.items() if v > STUCK_AFTER_S[k]}
        ok = redis_ok and not stuck and not refused
        body = {"status": "ok" if ok else "degraded", "redis": redis_ok}
        if refused:
            body["writes_refused"] = refused  # "aof" or "rdb": the persistence that failed
        if stuck:
            body["stuck"] = stuck  # what waits, and for how many seconds
        return jsonify(body), (200 if ok else 503)

    return app
