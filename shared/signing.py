"""Standard Webhooks secrets, read the same way by whoever signs or verifies."""

from standardwebhooks import Webhook


def webhook_signer(secret: str) -> Webhook:
    """A `whsec_`-prefixed secret is base64, as Standard Webhooks writes them; any other
    is used as its UTF-8 bytes (an operator's own random string)."""
    return Webhook(secret if secret.startswith("whsec_") else secret.encode())
