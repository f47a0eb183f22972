"""Adapters of the tracker."""
