"""Selectors: dataset-level picks (Data-Juicer's four field selectors and diversity_selector), one op per file."""
