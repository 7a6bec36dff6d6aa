"""Gunicorn settings shipped inside the package; ``cds-service serve`` and deploy/ use them.

Sync workers (measured steadier than gthread on 2 cores), preloaded so a bad setting or bad
clinical content stops the master before any worker starts; timeouts below an EHR's hook timeout.
"""
import multiprocessing
import os

bind = os.environ.get("CDS_BIND", "127.0.0.1:8080")
workers = int(os.environ.get("CDS_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "sync"
preload_app = True
timeout = 10
graceful_timeout = 20
keepalive = 2
accesslog = None
errorlog = "-"
loglevel = "info"


def on_starting(server):
    """Refuse to listen beyond loopback without authentication (see cds_service.settings.check_exposure)."""
    from cds_service.settings import check_exposure, load_settings

    hosts = [address.rsplit(":", 1)[0] if not address.startswith("unix:") else address for address in server.cfg.bind]
    check_exposure(load_settings(), hosts)
