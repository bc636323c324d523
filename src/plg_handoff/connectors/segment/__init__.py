"""Segment: a Segment-compatible HTTP collector writing a durable spool, and the conversion of
Segment spec messages to usage events (`group` calls map users to accounts)."""
