"""HubSpot CRM through `hubspot-api-client`."""

from plg_handoff.connectors.hubspot.client import HubSpotCrm

__all__ = ["HubSpotCrm"]
