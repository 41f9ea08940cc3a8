// Command linkerd-identity is Linkerd's identity controller (edge-26.8.3), the
// `identity` subcommand of its controller image, built from upstream's source
// for the L2.5 tests: it signs proxies' CSRs with the issuer cert-manager got
// from Vault.
package main

import (
	"os"

	"github.com/linkerd/linkerd2/controller/cmd/identity"
)

func main() {
	identity.Main(os.Args[1:])
}
