"""linkerd-vault-pki: Linkerd's mTLS on a Vault-held trust anchor, as one Pulumi program."""

from components import program
from lib import config

program.run(config.load())
