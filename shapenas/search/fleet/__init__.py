"""Many processes on one storage: storages opened by URL that wait out outages, the lease that tells live processes
from dead ones, claims (jobs exactly one process does), the shared trial budget, results that could not be written
yet, and the local worker pool."""

from shapenas.search.faces import lazy

SURFACE = {
    "open_storage": "storage",
    "in_memory_storage": "storage",
    "default_storage_url": "storage",
    "existing_study_names": "storage",
    "RetryingStorage": "retrying",
    "StorageUnavailable": "outage",
    "DEFAULT_RETRY_SECONDS": "outage",
    "Claims": "claims",
    "HEARTBEAT_SECONDS": "lease",
    "GRACE_BEATS": "lease",
    "note_running": "coordination",
    "pending_folder": "pending",
    "upload_pending": "pending",
    "run_pool": "pool",
    "worker_pins": "pool",
}
__all__ = list(SURFACE)
__getattr__, __dir__ = lazy(__name__, SURFACE)
