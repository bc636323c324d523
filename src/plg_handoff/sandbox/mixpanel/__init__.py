"""A local emulator of Mixpanel's raw Export API and Engage API."""

from plg_handoff.sandbox.mixpanel.emulator import SANDBOX_DATA_GROUP_ID, Call, MixpanelEmulator

__all__ = ["SANDBOX_DATA_GROUP_ID", "Call", "MixpanelEmulator"]
