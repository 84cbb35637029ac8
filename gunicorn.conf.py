"""gunicorn settings for production serving (`make serve`: scripts/serve.sh passes this file)."""

from web.serving import freeze_startup_objects


def post_worker_init(worker):
    """The app is loaded in this worker: keep its start-up objects out of collections."""
    worker.log.info("web worker ready: %d start-up objects frozen", freeze_startup_objects())
