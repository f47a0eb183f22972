"""Sandbox backends: one workspace per lease, commands run under limits, results as data."""

from services.sandbox.backends.base import LeaseNotFound, SandboxBackend, SandboxError, UnsafePath

__all__ = ["LeaseNotFound", "SandboxBackend", "SandboxError", "UnsafePath"]
