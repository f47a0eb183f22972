"""What pre-flight needs: a sandbox to run setup commands and copy assets into."""

from shared.sandbox_client import SandboxClient

__all__ = ["SandboxClient"]
