"""How ``serve`` logs: uvicorn's text lines (the default), or one JSON object per line.

``--log-format json`` formats every record with python-json-logger: uvicorn's own messages,
the sandbox's, and one access record per request from ``telemetry.Observed`` (request id,
correlation id, tenant, operationId, method, path, status, duration in ms). uvicorn's access
lines are then turned off, so each request is one line. Logs go to standard error; the start
banner stays on standard output.
"""

from __future__ import annotations

from typing import Any

LOG_FORMATS = ("text", "json")


def log_config(log_format: str, level: str) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for a format: None keeps uvicorn's own (text)."""
    if log_format == "text":
        return None
    numeric = "DEBUG" if level == "trace" else level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "datefmt": "%Y-%m-%dT%H:%M:%S%z",
            }
        },
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": ["json"], "level": numeric, "propagate": False},
            "uvicorn.error": {"level": numeric},
            # Observed writes the one line per request (with the sandbox's fields).
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # The access record is INFO: --log-level warning (or above) leaves it out.
            "gledger_sandbox": {"handlers": ["json"], "level": numeric, "propagate": False},
        },
    }
