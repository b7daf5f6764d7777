"""Notifications: destinations, the outbox of deliveries, and the senders that empty it."""
