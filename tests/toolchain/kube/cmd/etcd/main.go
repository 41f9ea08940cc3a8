// Command etcd is upstream etcd's server (go.etcd.io/etcd/server/v3/etcdmain),
// built from the Go module proxy for the L2.5 tests' local API server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
