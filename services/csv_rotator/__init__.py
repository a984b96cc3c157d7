"""Writes every reading to one CSV file per local day, in the previous logger's long format."""
