"""Tracker: records step results, assembles pipeline_execution, publishes status events."""
