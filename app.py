"""Composition root: `create_app()` builds the Flask app from DUBAN_* settings (or given ones).

flask --app app run
gunicorn 'app:create_app()'
"""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.web import hooks


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    rt = runtime or build_runtime(settings)
    app = Flask(__name__, static_folder=None)
    app.config["SECRET_KEY"] = settings.secret_key or "duban-demo-only"
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["duban"] = rt
    app.wsgi_app = hooks.HookRoutes(app.wsgi_app, rt)  # callbacks skip Flask (bot/web/hooks.py)
    if settings.reverse_proxies:
        # Behind nginx every request comes from 127.0.0.1; the client is the one nginx names in
        # X-Forwarded-For (the login throttle counts per client). Only as many entries as there
        # are proxies are believed, so a client cannot name itself somebody else.
        # https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/
        n = settings.reverse_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)

    from bot.web import admin, api, sandbox

    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(sandbox.bp)

    @app.get("/healthz")
    def healthz():
        try:
            redis_ok = rt.store.ping()
        except Exception:  # health must answer even when Redis is down
            redis_ok = False
        body = {"status": "ok" if redis_ok else "degraded", "redis": redis_ok}
        return jsonify(body), (200 if redis_ok else 503)

    return app
