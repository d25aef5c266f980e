"""djlite: a fast, lightweight, video-first data-cleaning engine with Data-Juicer compatible recipes."""

__version__ = "0.1.0"

__all__ = ["__version__", "run", "load_recipe", "build_op"]


def __getattr__(name):
    # Lazy re-exports keep `import djlite` free of heavy imports (datasets, av).
    if name == "run":
        from djlite.api import run

        return run
    if name in ("load_recipe", "build_op"):
        from djlite import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module 'djlite' has no attribute {name!r}")
