"""The ``/_mock`` surface for tests and trainers (health for now)."""
