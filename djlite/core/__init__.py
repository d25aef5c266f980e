"""What both executors share: the per-sample stage, the dataset-level step, and the accounting."""
