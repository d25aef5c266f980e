"""Mappers: one op per file."""
