//go:build tools

// Package pulumiyaml pins Pulumi YAML's language host (a served Go module), which
// tests/toolchain/engine.py builds so that a Pulumi YAML program consumes the
// package's components through the real engine (tests/integration/test_any_language.py).
// Nothing here is compiled into the product.
package pulumiyaml

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
