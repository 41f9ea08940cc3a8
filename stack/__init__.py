"""The stack program: the settings of ``Pulumi.<stack>.yaml`` read and checked once (``stack.config``), then
mapped onto the package's components (``stack.program``), with the stack's outputs (``stack.outputs``) and
the Vault side a cluster-only stack consumes (``stack.vault_side``). Only this program reads config."""
