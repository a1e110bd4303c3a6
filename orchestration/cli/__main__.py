"""``python -m orchestration.cli``: the ``orchestration`` command."""

if __name__ == "__main__":
    from orchestration.cli.app import main

    main()
