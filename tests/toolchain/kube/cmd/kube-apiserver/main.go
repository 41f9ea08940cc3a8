// Command kube-apiserver is upstream's (k8s.io/kubernetes/cmd/kube-apiserver),
// built from the Go module proxy for the L2.5 tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
