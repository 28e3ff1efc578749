"""Gunicorn settings for production: `gunicorn -c deploy/gunicorn.conf.py`.

Every value can be changed from the environment (GUNICORN_*), see docs/operations.md.
The app is `micro_platform.wsgi`, which defaults to the production settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


_CPUS = os.cpu_count() or 1

wsgi_app = "micro_platform.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")

# Sign-ins hash passwords with Argon2id (CPU-bound, ~19 MiB each), so processes scale with
# cores; everything else waits on PostgreSQL or Redis, which threads overlap cheaply.
workers = _env_int("GUNICORN_WORKERS", _CPUS * 2 + 1)
threads = _env_int("GUNICORN_THREADS", 4)
worker_class = "gthread" if threads > 1 else "sync"

# A request that takes longer than this is stuck (a sign-in takes ~50 ms); the worker is
# replaced. Graceful shutdown lets in-flight requests finish on SIGTERM.
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Longer than nginx's upstream keepalive_timeout would hold idle sockets in threads for nothing.
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# Bounds the damage of a slow leak; jitter keeps workers from restarting together.
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0, minimum=0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", 0, minimum=0)

# Only the local TLS proxy may say the request was HTTPS (X-Forwarded-Proto); Django's
# SECURE_PROXY_SSL_HEADER reads it. Add the proxy's address when it runs elsewhere.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The heartbeat file lives in memory when possible: a disk stall must not kill workers.
if Path("/dev/shm").is_dir():  # noqa: S108 - gunicorn's own recommendation for containers
    worker_tmp_dir = "/dev/shm"  # noqa: S108

accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = os.environ.get("GUNICORN_ERRORLOG", "-")
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# The path only (%(U)s), never the query string or the Referer: OAuth redirects and
# mistaken clients put codes and tokens there. The client is the proxy's X-Forwarded-For.
access_log_format = (
    '%({x-forwarded-for}i)s %(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
)

proc_name = "micro-user-service"


# --- Prometheus multiprocess mode (micro_platform/metrics.py) --------------------------------


def on_starting(server: Any) -> None:
    """Clears PROMETHEUS_MULTIPROC_DIR: a previous run's files would be summed in.

    Only prometheus-client's own `*.db` files are removed, whatever the directory is.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for entry in path.glob("*.db"):
        if entry.is_file():
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """Drops a dead worker's live gauges; its counters stay summed in."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
