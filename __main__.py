"""linkerd-vault-pki: Linkerd's mTLS on a Vault-held trust anchor, as one Pulumi program."""

from components import config, program

program.run(config.load())
