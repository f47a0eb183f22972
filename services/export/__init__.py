"""Export: sends final results to external systems (signed webhook callback)."""
