"""The component provider of linkerd-vault-pki: what `pulumi package add` runs (linkerd_vault_pki.provider)."""

from linkerd_vault_pki.provider import main

main()
