// Command kube-controller-manager is upstream's (k8s.io/kubernetes/cmd/kube-controller-manager),
// built from the Go module proxy for the L2.5 tests: its namespace and garbage-collector
// controllers are what let a Namespace delete (and so `pulumi destroy`) finish.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
