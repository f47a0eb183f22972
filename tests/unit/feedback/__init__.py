"""Unit tests of the feedback service's pure logic, catalogues and config."""
