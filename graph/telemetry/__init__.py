"""Telemetry: what an operator sees of the server.

- `requests.py`: one record per request (access line, request id, statement count) and the
  schema extension that fills in its operation.
- `metrics.py`: the Prometheus registry and /metrics.
- `logs.py`: structlog and stdlib logging as one JSON line format, secrets scrubbed.
- `tracing.py`: the OpenTelemetry extension and provider.
"""
