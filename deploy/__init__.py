"""Deployment, demo and benchmark code."""
