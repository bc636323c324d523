"""A local emulator of Segment's Profile API (account traits), for tests and the demo."""

from plg_handoff.sandbox.segment.profiles_emulator import ProfilesFaults, SegmentProfilesEmulator

__all__ = ["ProfilesFaults", "SegmentProfilesEmulator"]
