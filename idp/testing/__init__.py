"""pytest support: a ``psc_mock`` fixture that runs the mock in-process or uses one
already running (``--psc-mock-url``)."""
