//go:build tools

// Package pulumi pins the Pulumi CLI and the Python language host that
// tests/toolchain/engine.py builds where no `pulumi` is on PATH. The language host's
// main.go is upstream's (pulumi/pulumi sdk/python/cmd/pulumi-language-python),
// copied in at build time from the sources folder; go.mod and go.sum fix every
// module both builds use. Nothing here is compiled into the product.
package pulumi

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
