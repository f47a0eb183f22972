"""Pre-flight: required files, assets and setup commands, before any test runs."""
