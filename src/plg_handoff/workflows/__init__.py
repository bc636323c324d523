"""Temporal workflows: orchestration only, no I/O; rule code runs in activities.

This package imports nothing: the sandbox runs a workflow module's package again for every new
workflow instance, so an import here would run every workflow module each time. The list of
workflows a worker registers is in `plg_handoff.workflows.registry`."""
