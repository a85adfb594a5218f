"""wslearn: a hands-on course in the WebSocket protocol and the browser WebSocket API."""

__version__ = "0.1.0"
