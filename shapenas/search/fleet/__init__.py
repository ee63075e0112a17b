"""Many processes on one storage: storages opened by URL that wait out outages, the lease that tells live processes
from dead ones, claims (jobs exactly one process does), the shared trial budget, results that could not be written
yet, and the local worker pool."""

from shapenas.search.faces import lazy

SURFACE = {  # module: the public names it defines (a name equal to its module's is the module)
    "storage": ("open_storage", "in_memory_storage", "default_storage_url", "existing_study_names"),
    "retrying": ("RetryingStorage",),
    "outage": ("StorageUnavailable", "DEFAULT_RETRY_SECONDS"),
    "lease": ("HEARTBEAT_SECONDS", "GRACE_BEATS"),
    "claims": ("Claims",),
    "coordination": ("note_running",),
    "pending": ("pending_folder", "upload_pending"),
    "pool": ("run_pool", "worker_pins"),
}
__all__ = [name for names in SURFACE.values() for name in names]
__getattr__, __dir__ = lazy(__name__, SURFACE)
