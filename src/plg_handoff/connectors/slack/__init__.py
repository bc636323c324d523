"""Slack incoming webhooks: where notifications about handoffs go."""

from plg_handoff.connectors.slack.webhook import SlackWebhook

__all__ = ["SlackWebhook"]
