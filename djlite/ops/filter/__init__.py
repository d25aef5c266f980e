"""Filters: one op per file, file name == op name."""
