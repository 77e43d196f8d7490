"""Hooks of the Domo Workflows provider."""
