"""A local emulator of Slack incoming webhooks, for tests and the demo."""

from plg_handoff.sandbox.slack.emulator import SlackFaults, SlackMessage, SlackWebhookEmulator

__all__ = ["SlackFaults", "SlackMessage", "SlackWebhookEmulator"]
