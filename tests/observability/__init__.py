"""Telemetry, tracing and logs, and what they must never carry."""
