"""smartmeterctl: the operator's command line (not a long-running service)."""
