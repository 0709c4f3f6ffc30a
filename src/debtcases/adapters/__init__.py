"""Adapters: the one SQL dialect, database setup, the API-key store, background threads."""
