"""The appliance's processes; each subpackage runs as ``python -m services.<name>``."""
