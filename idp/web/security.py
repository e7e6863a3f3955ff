"""The Content-Security-Policy the pages send.

``form-action`` also governs where a form's answer may redirect (Chromium enforces it),
so a page whose form ends in a redirect to a relying party must name that party's origin.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_BASE = "default-src 'self'; frame-ancestors 'none'"


def content_security_policy(redirect_target: str = "") -> str:
    """The policy, allowing forms to end at ``redirect_target``'s origin if one is given."""
    target = urlsplit(redirect_target)
    origin = f"{target.scheme}://{target.netloc}" if target.scheme and target.netloc else ""
    allowed = ["'self'"]
    if origin and re.fullmatch(r"[\w.:/\[\]-]+", origin):
        allowed.append(origin)
    return f"{_BASE}; form-action {' '.join(allowed)}"
