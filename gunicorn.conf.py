"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py attache.wsgi`.

Every value can be overridden from the environment (GUNICORN_*).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never take the service down.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
# The client address is resolved by the app (TRUSTED_PROXY_COUNT), not by gunicorn.
forwarded_allow_ips = "127.0.0.1"
