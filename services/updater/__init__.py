"""Field updates: signed bundles, releases side by side, a health gate, rollback."""
