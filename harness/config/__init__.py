"""Inventory loading, validated host targets, secrets and redaction."""
