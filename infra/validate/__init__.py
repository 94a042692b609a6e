"""Checks run against a live deployment: SSH preflight, engine diagnosis, API checks."""
