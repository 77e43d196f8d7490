"""Sensors of the Domo Workflows provider."""
