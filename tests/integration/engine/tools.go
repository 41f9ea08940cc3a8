//go:build tools

// Package engine pins the Pulumi CLI that the integration tests build when no
// `pulumi` is on PATH (see ../engine.py). Nothing here is compiled into the
// product; go.mod and go.sum fix every module of the build.
package engine

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
