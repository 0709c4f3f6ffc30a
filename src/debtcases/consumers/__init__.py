"""The edges to Diagonal: outgoing messages (outbox -> Kafka or the built-in simulator) and
Diagonal's acknowledgements coming back (Kafka consumer)."""
