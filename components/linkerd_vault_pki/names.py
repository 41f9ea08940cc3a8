"""The fixed names this program gives things on the cluster, which Linkerd and the checks rely on.

Kept apart from the components so that `scripts/verify.py` reads the same
names without importing a Pulumi SDK.
"""

LINKERD_NAMESPACE = "linkerd"
CONTROL_PLANE_LABEL = "linkerd.io/is-control-plane"  # what the trust Bundle targets

ISSUER_PREFIX = "vault-"  # the ClusterIssuer is vault-<signing anchor>: a switch renames it, and cert-manager
# re-issues a Certificate whose issuerRef changed (the identity issuer is then signed by the new anchor)
CERTIFICATE_NAME = "linkerd-identity-issuer"  # the Certificate, and the Secret Linkerd reads (kubernetes.io/tls)
IDENTITY_NAME = "identity.linkerd.cluster.local"
BUNDLE_NAME = "linkerd-identity-trust-roots"  # the ConfigMap name Linkerd reads with externalCA
BUNDLE_KEY = "ca-bundle.crt"
ANCHOR_CONFIGMAP = "linkerd-trust-anchor"
ANCHOR_KEY_SUFFIX = ".crt"  # the anchor ConfigMap holds <anchor>.crt for each anchor in the mount
PREVIOUS_ANCHOR_KEY = "previous-anchor.crt"
APPROLE_SECRET = "linkerd-vault-approle"
APPROLE_SECRET_KEY = "secretId"
TOKEN_SECRET = "linkerd-vault-token"
TOKEN_SECRET_KEY = "token"
# Kubernetes auth (credential kubernetes): cert-manager requests a short-lived token for this ServiceAccount
# (TokenRequest, in the cluster resource namespace) and logs in to Vault with it; nothing secret is stored.
VAULT_SERVICE_ACCOUNT = "linkerd-identity-vault"
VAULT_AUDIENCE = "linkerd-vault-pki"  # the tokens' audience, which Vault's role requires (ours alone)
TOKEN_REQUESTER = "linkerd-identity-vault-token"  # Role + RoleBinding: cert-manager may create that token only
TOKEN_REVIEWER = "linkerd-identity-vault-tokenreview"  # ClusterRoleBinding: the token may call TokenReview

# imagePullSecret: the dockerconfigjson Secret in each namespace the stack installs into.
PULL_SECRET = "linkerd-vault-pki-registry"


def cluster_issuer_name(anchor: str) -> str:
    """The ClusterIssuer that signs with ``anchor`` (Vault's issuer of that name)."""
    return f"{ISSUER_PREFIX}{anchor}"


def anchor_key(anchor: str) -> str:
    """The key of ``anchor``'s public certificate in the anchor ConfigMap (a Bundle source)."""
    return f"{anchor}{ANCHOR_KEY_SUFFIX}"


RFC3339 = "%Y-%m-%dT%H:%M:%SZ"  # how every time this program outputs is written (UTC)

# Linkerd's own names, as its charts and proxy injector write them (linkerd2 charts/partials/templates/_proxy.tpl,
# _metadata.tpl; controller/proxy-injector/webhook.go; pkg/identity/service.go).
PROXY_CONTAINER = "linkerd-proxy"
PROXY_TRUST_ENV = "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS"
INJECTED_ROOTS_SHA256 = "linkerd.io/trust-root-sha256"  # sha256sum of the roots PEM the injector stamped in
COMPONENT_LABEL = "linkerd.io/control-plane-component"
IDENTITY_DEPLOYMENT = "linkerd-identity"
# The control plane's Deployments whose pods take the trust roots from the ConfigMap when they start.
CONTROL_PLANE_DEPLOYMENTS = ("linkerd-identity", "linkerd-destination", "linkerd-proxy-injector")
ISSUER_UPDATED = "IssuerUpdated"
ISSUER_UPDATE_SKIPPED = "IssuerUpdateSkipped"

# Ours: the digest of the anchor set (mesh.py, roots_digest). trust-manager writes it onto the trust roots
# ConfigMap with the roots (the Bundle's target metadata), and the control plane's pods carry it as an
# annotation, so a change of anchors rolls them, after the ConfigMap holds the new set.
ROOTS_DIGEST_ANNOTATION = "linkerd-vault-pki.io/trust-roots-sha256"

# The identity issuer's lifetime and renewal by default: two days, renewed with 25 hours left, so that a day
# of cert-manager or Vault being down never lets it lapse (the stack's issuerDuration and issuerRenewBefore).
ISSUER_DURATION = "48h"
ISSUER_RENEW_BEFORE = "25h"
