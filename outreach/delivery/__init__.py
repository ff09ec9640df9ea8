"""Delivery: composing each recipient's message, campaigns, the ledger, rate limits and workers."""
