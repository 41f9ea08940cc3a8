//go:build tools

// Package trustmanager pins trust-manager v0.24.0, which tests/toolchain/engine.py
// builds for the L2.5 tests (a served module: no upstream source is needed).
package trustmanager

import _ "github.com/cert-manager/trust-manager/cmd/trust-manager"
