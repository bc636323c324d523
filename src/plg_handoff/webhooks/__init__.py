"""CRM pushes (HubSpot webhooks, Salesforce outbound messages) that make a handoff read the CRM
at once instead of at its next poll."""
