//go:build tools

// Package pulumikubernetes pins the pulumi-kubernetes provider 4.25.0 (the
// provider module at its v4.25.0 commit, the only one the module proxy
// serves) that tests/toolchain/engine.py builds. The provider's own go.mod replaces
// sdk/v4 with ../sdk, which a dependent module cannot use: sdk/v4 comes from
// the proxy instead. The command's main.go, generate.go and schema are copied
// from the provider module at build time.
package pulumikubernetes

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
