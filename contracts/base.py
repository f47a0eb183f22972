"""The base model every contract derives from."""

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    """Frozen, and ignores unknown fields so additive changes stay compatible."""

    model_config = ConfigDict(frozen=True, extra="ignore")
