"""Worker processes of the pipeline, one module per role; started by the supervisor as
``python -m monitor.workers ROLE CONFIG_JSON``."""
