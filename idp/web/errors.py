"""French error pages: what happened, and what to do next."""

from __future__ import annotations

from flask import Response, make_response, render_template

from idp.auth.ecps import APPROVED, EXPIRED, NotPending

GONE = "Cette demande n'existe plus."  # the phone's and the reader's


def error_page(
    title: str,
    message: str,
    *,
    technical: str = "",
    status: int = 400,
    actions: list[tuple[str, str]] | None = None,
) -> Response:
    """``actions`` are (label, URL) pairs offered as the way out."""
    html = render_template(
        "error.html", title=title, message=message, technical=technical, actions=actions or []
    )
    return make_response(html, status)


def not_pending_message(decided: NotPending) -> str:
    """What a simulator says when its answer comes after the request was decided."""
    if decided.status == APPROVED:
        return "Cette demande a déjà été validée."
    if decided.status == EXPIRED:
        return "Cette demande a expiré."
    if decided.approval.reason == "superseded":
        return "Cette demande a été remplacée par une plus récente : répondez à la nouvelle."
    return "Cette demande a déjà été refusée."
