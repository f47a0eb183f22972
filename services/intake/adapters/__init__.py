"""Adapters of intake."""
