"""The message bus on Kafka and the Kafka → Temporal signal bridge."""
