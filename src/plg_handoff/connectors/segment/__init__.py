"""Segment: a Segment-compatible collector with a durable spool, and the usage source that
drains it."""

from plg_handoff.connectors.segment.source import SegmentUsageSource

__all__ = ["SegmentUsageSource"]
