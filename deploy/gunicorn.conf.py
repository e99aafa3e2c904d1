"""Gunicorn settings for Relance in production (docs/operations.md, "Web: gunicorn").

Installed as /etc/relance/gunicorn.conf.py and used by deploy/systemd/relance-web.service:
    gunicorn --config /etc/relance/gunicorn.conf.py relance.wsgi:application
A command-line option overrides the value here (e.g. `--bind 127.0.0.1:8001`).

Environment (all optional): RELANCE_BIND (default 127.0.0.1:8000, the address nginx proxies to),
WEB_CONCURRENCY (worker processes, default 2 x CPUs + 1, at most 8), RELANCE_WEB_TIMEOUT (seconds a
request may take before its worker is restarted, default 60).
"""

import multiprocessing
import os

# nginx in front (deploy/nginx/relance.conf) terminates TLS and buffers slow clients, so plain
# synchronous workers are right: each one handles one request at a time, a few per CPU.
bind = os.environ.get("RELANCE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "sync"
timeout = int(os.environ.get("RELANCE_WEB_TIMEOUT") or 60)
graceful_timeout = 30  # SIGTERM: requests in progress get this long to finish
keepalive = 5
# A worker is replaced after this many requests (bounded memory growth), not all at the same moment.
max_requests = 2000
max_requests_jitter = 200
# Each worker imports the application itself: nothing (a database connection, a key cache) is
# shared through a fork, and `systemctl reload relance-web` (SIGHUP) picks up new code and settings.
preload_app = False
# X-Forwarded-Proto is trusted from nginx on this machine only (Django's SECURE_PROXY_SSL_HEADER
# then knows the request came over HTTPS).
forwarded_allow_ips = "127.0.0.1,::1"
# Request lines (paths with tokens, query strings with search terms) stay out of the logs:
# no access log. Errors go to stderr, which systemd sends to the journal, as JSON like Relance's own.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("RELANCE_LOG_LEVEL", "INFO").lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "relance.lib.logs.RedactPersonalData"}},
    "formatters": {"json": {"()": "relance.lib.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"],
                   "stream": "ext://sys.stderr"},
    },
    "root": {"handlers": ["stderr"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}
# The process title shows in ps/top as "gunicorn: worker [relance]".
proc_name = "relance"
# Request bodies: the API's own limits apply (DATA_UPLOAD_MAX_MEMORY_SIZE...); these stop absurd headers.
limit_request_line = 8190
limit_request_fields = 100
