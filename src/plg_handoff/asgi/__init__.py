"""Our production HTTP endpoints (the CRM webhook receiver, the Segment collector) on Uvicorn:
the limits every endpoint gets (`limits`), the HTTP/1.1 protocol that enforces the socket ones
(`protocol`), reading a request body within them (`body`) and serving (`server`)."""
