"""Intake: the HTTP API (configs, submissions), the outbox relay and the first steps."""
