"""Helpers the tests import: databases, servers, clients, factories; no fixtures (conftest.py)."""
