"""Energy bought and sold: days, half-hours and months from the CSV files (or the journal)."""
