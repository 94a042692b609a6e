"""Checks run against a live deployment (SSH preflight, engine diagnosis, API, load), the pipeline that runs them in order, and the report."""
