"""linkerd-vault-pki: Linkerd's mTLS on a Vault-held trust anchor, as one Pulumi program."""

from stack import config, program

program.run(config.load())
