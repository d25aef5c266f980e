"""Start or join Ray for one run. `ray` is imported here, inside functions, so the core install never needs it."""

import os
import socket
from contextlib import contextmanager

from loguru import logger

from djlite.errors import RecipeError

RAY_MISSING = "executor_type: ray needs Ray, which is not installed: pip install 'djlite[ray]'"


def require_ray():
    """The `ray` module, or a RecipeError (exit status 2) naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra installs both; a bare `ray` without Ray Data is not enough
    except ImportError:
        raise RecipeError(RAY_MISSING) from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None):
    """Yield `ray`, initialised for this run.

    A Ray instance this process already started (a test, a notebook, tools/bench_scale.py) is used as it is and
    left running. Otherwise: no address starts a private local instance with `num_cpus` (default: every CPU
    here) and shuts it down afterwards; `auto` or `host:port` joins a running cluster and disconnects afterwards.

    The private instance is `address="local"`: a bare ray.init() would join whatever Ray it finds (RAY_ADDRESS,
    or the last `ray start` on this machine, recorded in /tmp/ray/ray_current_cluster, even one long gone) and
    then refuse `num_cpus`. Ray reads RAY_ADDRESS only for no address or `auto`, so it cannot redirect this one.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    options = {"include_dashboard": False, "logging_level": "warning"}
    if address and address != "auto":
        check_reachable(address)
    try:
        if address:
            ray.init(address=address, **options)
        else:
            if os.environ.get("RAY_ADDRESS"):
                logger.info(
                    f"RAY_ADDRESS={os.environ['RAY_ADDRESS']} is set but ray_address is not: this run starts its "
                    f"own Ray on this machine; set ray_address: auto to run on that cluster"
                )
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **options)
    except ConnectionError as e:
        raise RecipeError(f"ray_address {address!r}: cannot join a Ray cluster: {str(e).splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """RecipeError within seconds when nothing listens at `address` (host:port or ray://host:port).

    ray.init on an address where no cluster runs retries for many minutes, logging dozens of warnings that name
    other addresses; a plain TCP connect says at once whether the head node's port is there.
    """
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise RecipeError(f"ray_address {address!r}: expected host:port, ray://host:port or auto")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise RecipeError(
            f"ray_address {address!r}: cannot reach a Ray cluster there ({e.strerror or e}); start one with "
            f"`ray start --head` or leave ray_address unset for a local Ray"
        ) from None


def cluster_cpus(ray) -> int:
    """CPUs of the whole cluster (every node), at least 1."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
