"""The transport wing (graph/transport/): HTTP, WebSocket, the protocol, CORS, the deadline."""
