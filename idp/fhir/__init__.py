"""The Annuaire Santé FHIR API over the same directory that feeds PSC's claims.

``ids`` gives every resource a stable id derived from the directory's identifiers;
``resources`` turns directory objects into FHIR R4 resources (``fhir.resources`` R4B
models) following the IG "Annuaire Santé" ``as-dp-*`` profiles (``as-dr-*`` when restricted
data is allowed); ``search`` parses the real API's search parameters and pages through the
directory's index; ``api`` is the Flask blueprint (``/fhir/v2`` by default).

``fhir.resources`` loads on the first FHIR request, not at start-up.
"""
