"""Swarm deployments: scheduling policies and convergence maths."""
