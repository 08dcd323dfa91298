"""Webhook endpoints and their deliveries, as state (the worker that sends them is
gledger_sandbox.webhooks).
"""
