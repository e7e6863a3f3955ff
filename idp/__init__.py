"""psc-mock: a faithful, scriptable mock of Pro Santé Connect (PSC)."""

__version__ = "0.1.0"
