"""Usage from Mixpanel: the raw Export API for events, the Engage API for account traits."""

from plg_handoff.connectors.mixpanel.client import (
    Endpoints,
    ExportLine,
    MixpanelClient,
    MixpanelCredentials,
    endpoints,
)
from plg_handoff.connectors.mixpanel.limits import Pacer
from plg_handoff.connectors.mixpanel.source import (
    MixpanelUsageSource,
    credentials_from_env,
    credentials_from_secrets,
)

__all__ = [
    "Endpoints",
    "ExportLine",
    "MixpanelClient",
    "MixpanelCredentials",
    "MixpanelUsageSource",
    "Pacer",
    "credentials_from_env",
    "credentials_from_secrets",
    "endpoints",
]
