"""Bundles and OperationOutcomes: the envelopes of the API's answers."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle, BundleEntry, BundleEntrySearch, BundleLink
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue

from idp.fhir.search import Entity, Page


def searchset(base: str, page: Page, links: dict[str, str]) -> Bundle:
    """A search's answer: the page's matches, then what ``_include``/``_revinclude``
    brought, with ``self``/``first``/``previous``/``next`` links."""
    return Bundle(
        type="searchset",
        link=[BundleLink(relation=relation, url=url) for relation, url in links.items()],
        entry=[_entry(base, entity, "match") for entity in page.matches]
        + [_entry(base, entity, "include") for entity in page.included]
        or None,
    )


def _entry(base: str, entity: Entity, mode: str) -> BundleEntry:
    return BundleEntry(
        fullUrl=f"{base}/{entity.type}/{entity.id}",
        resource=entity.resource,
        search=BundleEntrySearch(mode=mode),
    )


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> OperationOutcome:
    return OperationOutcome(
        issue=[OperationOutcomeIssue(severity=severity, code=code, diagnostics=diagnostics)]
    )
