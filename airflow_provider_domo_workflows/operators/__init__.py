"""Operators of the Domo Workflows provider."""
