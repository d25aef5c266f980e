"""Command-line entry points: dj-process, dj-analyze. The only place that configures logging sinks."""
