"""The public endpoints' OpenAPI document: valid, and complete against the app's routes."""

from __future__ import annotations

import re

import requests
from openapi_spec_validator import validate

from idp.app import create_app
from idp.settings import Settings

SKIPPED = ("/_mock/", "/static/")  # the control API has its own document


def _document(base_url: str) -> dict:
    response = requests.get(base_url + "/_mock/openapi-public.json", timeout=5)
    assert response.status_code == 200
    return response.json()


def test_the_document_is_valid_openapi(base_url):
    document = _document(base_url)
    validate(document)
    assert document["servers"] == [{"url": base_url}]


def test_every_public_route_is_documented(base_url):
    document = _document(base_url)
    app = create_app()
    fhir = Settings().fhir_path
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if path.startswith(SKIPPED) and not path.startswith("/_mock/health"):
            continue
        if path in (fhir + "/", fhir + "/<path:rest>", "/static/<path:filename>"):
            continue  # FHIR's catch-all answers unknown paths with an OperationOutcome
        path = re.sub(r"<any\([^)]*\):(\w+)>", r"{\1}", path)
        path = re.sub(r"<(?:path:)?(\w+)>", r"{\1}", path)
        path = path.replace("{id_nat}", "{idNat}").replace("{approval_id}", "{approvalId}")
        path = path.replace("{resource_type}", "{type}").replace("{resource_id}", "{id}")
        assert path in document["paths"], path
        if path.startswith(fhir):
            continue  # FHIR routes take every method, to answer 405 as an OperationOutcome
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (method, path)
