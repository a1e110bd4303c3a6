"""Every side effect a workflow needs, as Temporal activities."""
