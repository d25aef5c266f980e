"""Operators. Each module registers one op; `djlite.registry.get_op(name)` finds it."""
