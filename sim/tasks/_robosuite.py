"""Import robosuite quietly.

robosuite logs warnings on import (no private macro file, optional robot models, mink) and an INFO line per
controller load through its ``robosuite_logs`` logger, which it configures while importing. A filter attached to
that logger before the import keeps only errors; it stays for the process, as the messages repeat at run time.
"""
from __future__ import annotations

import logging


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


_LOGGER = logging.getLogger("robosuite_logs")
if not any(isinstance(f, _ErrorsOnly) for f in _LOGGER.filters):
    _LOGGER.addFilter(_ErrorsOnly())

import robosuite  # noqa: E402,F401

__all__ = ["robosuite"]
