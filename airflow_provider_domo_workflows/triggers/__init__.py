"""Triggers of the Domo Workflows provider."""
