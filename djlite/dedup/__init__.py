"""Near-duplicate machinery shared by deduplicators: sequence distance, LSH candidate search, grouping."""
