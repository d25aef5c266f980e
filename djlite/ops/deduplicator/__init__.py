"""Deduplicators: one op per file."""
