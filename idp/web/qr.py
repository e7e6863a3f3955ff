"""QR codes drawn inline (SVG, no image request, no external service): a page shows one
to open a simulator on a real phone in the room."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(url: str, *, scale: int = 4) -> Markup:
    """The QR code of ``url`` as an inline ``<svg>``; segno writes only the drawing."""
    return Markup(segno.make(url, error="m").svg_inline(scale=scale, dark="#161616"))
