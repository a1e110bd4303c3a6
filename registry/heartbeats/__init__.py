"""Heartbeats on their way into the store: parsed (:mod:`.parsing`), coalesced per agent in a
buffer (:mod:`.buffer`), readable while unwritten (:mod:`.unwritten`), written in batches
(:mod:`.flusher`), and taken from Kafka (:mod:`.ingest`)."""
