"""Selectors: dataset-level steps, one op per file."""
