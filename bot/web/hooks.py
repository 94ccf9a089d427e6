"""POST /hooks/<platform>: the platform callbacks, one generic route (details in bot/inbound.py)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

from bot.inbound import handle_callback
from bot.messages import HttpIn

bp = Blueprint("hooks", __name__)


@bp.route("/hooks/<name>", methods=["GET", "POST"])
def hook(name: str) -> Response:
    rt = current_app.extensions["duban"]
    platform = rt.platforms.get(name)
    if platform is None:
        abort(404)
    req = HttpIn(
        method=request.method,
        path=request.path,
        query=request.args.to_dict(),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.get_data(cache=False),  # bounded by MAX_CONTENT_LENGTH (413)
    )
    out = handle_callback(
        platform, req, rt.store, rt.dispatcher.handle_once,
        enqueue=rt.services.get("enqueue"), lease_s=rt.settings.push_lease_s,
    )  # fmt: skip
    return Response(out.body, status=out.status, content_type=out.content_type, headers=out.headers)
