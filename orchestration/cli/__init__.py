"""The ``orchestration`` command (``orchestration.cli.app:main``; ``python -m orchestration.cli``).

Errors are one line on stderr, saying what to change. Exit codes: 0 ok, 1 failure (for
``saga start --wait`` and ``saga status``: the saga was rolled back or aborted), 2 bad
configuration or usage, 3 a saga needs manual intervention, 130 interrupted.

:mod:`.app` is the root and the process commands (``up``, ``worker``, ``agent``, ``bridge``),
:mod:`.groups` the command groups; :mod:`.saga`, :mod:`.swarm` and :mod:`.agents` do those
groups' work, :mod:`.common` holds what they share. A command imports what it runs inside its
function: ``orchestration --help`` takes 0.35 s here, 1.3 s with every command's modules.
"""
