"""The operator's commands: ``scripts/stack`` and what it runs (``python -m scripts.check``, ``scripts.verify``,
``scripts.prerequisites``, ...), from the project directory, with the stack's virtualenv."""
