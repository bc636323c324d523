"""Usage from JSONL files in the Mixpanel export shape (the embedded default and tests)."""

from plg_handoff.connectors.file.source import FileUsageSource

__all__ = ["FileUsageSource"]
