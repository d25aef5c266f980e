"""Executors other than the local runner (djlite/runner.py). Each imports its backend only when it runs."""
