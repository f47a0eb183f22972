"""Message contracts shared by every service: the envelope, step names and payloads.

Models are frozen and tolerant of unknown fields, so an older consumer keeps working
when a newer producer adds a field. A breaking change is a new versioned type.
"""
