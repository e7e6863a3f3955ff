"""Who exists: the Annuaire Santé as PSC sees it.

``model`` holds the dataclasses, ``identifiers`` the idNat forms and check digits,
``nomenclatures`` the TRE code systems, ``loaders`` reads extraction files and ``index``
serves them from SQLite. Nothing here knows about OIDC.
"""
