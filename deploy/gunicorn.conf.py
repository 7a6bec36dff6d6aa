# Gunicorn settings for operators and containers that start gunicorn themselves, e.g.
#   gunicorn --config deploy/gunicorn.conf.py 'cds_service:create_app()'
# The real settings (bind from CDS_BIND, workers from CDS_WORKERS, sync workers, preload, timeouts,
# and the on_starting hook that refuses a non-loopback bind without authentication) live in the
# package, in cds_service/gunicorn_conf.py, which `cds-service serve` also uses: change them there.
from cds_service.gunicorn_conf import *  # noqa: F401,F403
