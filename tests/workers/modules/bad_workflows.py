"""A worker module whose WORKFLOWS holds something that is not a workflow."""

WORKFLOWS = [len]
