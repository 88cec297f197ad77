"""The telemetry wing (graph/telemetry/): access lines, metrics, logs, tracing."""
