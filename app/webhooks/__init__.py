"""Outbound webhooks: signed JSON events, sent from a transactional outbox."""
