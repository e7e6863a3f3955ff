"""French error pages: what happened, and what to do next."""

from __future__ import annotations

from flask import Response, make_response, render_template


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
