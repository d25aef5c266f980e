"""The executors: base.py (the contract and the registry), local.py (datasets.Dataset.map, np worker processes)
and ray/ (Ray Data). Both run the same stage, dataset-level step and accounting from djlite/core/; each imports
its backend only when it runs."""
