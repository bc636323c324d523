"""Salesforce CRM through `simple-salesforce`, after our own OAuth 2.0 token call."""

from plg_handoff.connectors.salesforce.auth import SalesforceCredentials
from plg_handoff.connectors.salesforce.client import SalesforceCrm

__all__ = ["SalesforceCredentials", "SalesforceCrm"]
