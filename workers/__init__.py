"""Process entry points: the orchestration worker and the agent runtime."""
