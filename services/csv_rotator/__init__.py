"""Writes every reading to one CSV file per local day, in the seed's long format."""
