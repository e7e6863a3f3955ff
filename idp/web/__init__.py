"""Pages people use: the PSC-like login, the pending page, the e-CPS phone simulator."""
