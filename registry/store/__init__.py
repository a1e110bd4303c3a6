"""The registry's database layer: engines, tables, Alembic migrations, and the queries on them.

The agents' action ledger (``activities.ledger``) keeps its table here too: one schema, one
migration history.
"""
