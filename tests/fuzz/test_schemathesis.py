"""schemathesis against the public endpoints' OpenAPI document, on a live mock.

In the suite: a short, derandomized run (``PSC_MOCK_FUZZ_EXAMPLES`` per operation,
about 60). The long run (100,000 requests, random seeds) is ``python bench/fuzz.py``,
which runs this same test with more examples and collects what it found.

Each answer must be no 5xx, and documented: an OAuth error in JSON, a FHIR
OperationOutcome, or an HTML page (never a traceback); a redirect goes to the mock itself
or to a URI a client registered, never elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
from urllib.parse import urlsplit

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from idp.app import BUNDLED_FIXTURES
from idp.server import MockServer
from idp.settings import Settings

EXAMPLES = int(os.environ.get("PSC_MOCK_FUZZ_EXAMPLES", "60"))
RANDOM = os.environ.get("PSC_MOCK_FUZZ_RANDOM") == "1"  # bench: new inputs each run
TALLY = os.environ.get("PSC_MOCK_FUZZ_TALLY")  # bench: where to append status counts


def _registered_uris() -> tuple[str, ...]:
    clients = yaml.safe_load((BUNDLED_FIXTURES / "clients.yaml").read_text())["clients"]
    return tuple(
        uri
        for client in clients
        for uri in client.get("redirect_uris", []) + client.get("post_logout_redirect_uris", [])
    )


REGISTERED = _registered_uris()


def _header(response, name: str) -> str:
    for key, values in response.headers.items():
        if key.lower() == name:
            return values[0] if isinstance(values, list) else values
    return ""


def documented_answer(ctx, response, case) -> None:
    """A refusal the client or the person can read; a redirect to a known place."""
    status = response.status_code
    media = _header(response, "content-type").split(";")[0]
    if TALLY:
        with open(TALLY, "a") as tally:
            tally.write(json.dumps([case.operation.label, status]) + "\n")
    if 300 <= status < 400:
        location = _header(response, "location")
        target = urlsplit(location)
        own = not target.netloc or target.netloc == urlsplit(case.operation.base_url).netloc
        assert own or location.startswith(REGISTERED), f"redirect to {location}"
        return
    if status < 400:
        return
    text = response.text or ""
    assert "Traceback" not in text, "a traceback in the answer"
    if media == "application/json":
        assert isinstance(json.loads(text).get("error"), str), f"not an OAuth error: {text}"
    elif media == "application/fhir+json":
        assert json.loads(text)["resourceType"] == "OperationOutcome", text[:200]
    else:
        assert media == "text/html" and "<html" in text.lower(), f"{media}: {text[:200]}"


class _Errors(logging.Handler):
    """What the server logged at ERROR or worse: an unhandled exception shows there."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.fixture(scope="module")
def fuzzed_mock():
    """A mock of its own (fuzzing may end sessions or fill the request log), whose
    error log must stay empty."""
    errors = _Errors()
    logging.getLogger().addHandler(errors)
    server = MockServer(Settings(port=0)).start_in_thread()
    yield server
    server.stop()
    logging.getLogger().removeHandler(errors)
    if TALLY:
        with open(TALLY, "a") as tally:
            tally.write(json.dumps(["server log errors", len(errors.records)]) + "\n")
    assert errors.records == [], errors.records[:3]


@pytest.fixture(scope="module")
def public_schema(fuzzed_mock):
    url = fuzzed_mock.settings.effective_public_url + "/_mock/openapi-public.json"
    return schemathesis.openapi.from_url(url)


schema = schemathesis.pytest.from_fixture("public_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_public_endpoints_answer_as_documented(case):
    response = case.call(timeout=10)
    case.validate_response(response, checks=[not_a_server_error, documented_answer])
