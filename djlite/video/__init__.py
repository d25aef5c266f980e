"""The only package that decodes media. Ops ask it for metadata and frames; they never open files."""
