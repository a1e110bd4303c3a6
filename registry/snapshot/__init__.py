"""The registry's in-memory copy of every agent (:mod:`.agents`), what discovery and the
health checker read instead of the database: searched by :mod:`.search`, kept in step with
other registry processes by :mod:`.sync`, checked by :mod:`.health_check`."""
