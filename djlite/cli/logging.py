"""Console and file sinks: the only place djlite configures logging."""

import os
import sys
import time

from loguru import logger


def configure_logging(work_dir: str | None, command: str, verbose: bool = False) -> str | None:
    logger.remove()
    logger.add(
        sys.stderr,
        level="DEBUG" if verbose else "INFO",
        format="<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}",
    )
    if not work_dir:
        return None
    log_dir = os.path.join(work_dir, "log")
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, f"{command}_{time.strftime('%Y%m%d%H%M%S')}.txt")
    logger.add(path, level="DEBUG", enqueue=False)
    return path
