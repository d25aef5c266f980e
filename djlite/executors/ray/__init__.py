"""executor_type: ray (Ray Data). Imports ray only when a run starts."""
