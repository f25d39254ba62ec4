"""Reporting: plots (``plot``), CSV and Markdown tables (``export``) and the static results
website (``website``), all drawn from the result files the harness writes."""
