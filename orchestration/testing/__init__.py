"""Pytest helpers for projects built on GreenLang Orchestration.

Installed as a pytest plugin (entry point ``orchestration``), so its fixtures are available in
any project that has this package installed: the time-skipping Temporal environment, a
session-scoped dev server, a Tansu Kafka broker on a free port, and databases (a fresh
Postgres database per session, and SQLite); and an OTLP receiver that decodes the spans
processes export to it (``orchestration.testing.otlp``).
"""
