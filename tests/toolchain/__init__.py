"""The engine bootstrap: the Pulumi CLI, its Python language host and the providers, found or built.

See ``tests/toolchain/engine.py`` and docs/engine.md.
"""
