//go:build tools

// Package actionlint pins actionlint (a served Go module), which
// tests/toolchain/lint.py builds so that tests/unit/test_workflows.py checks the
// GitHub workflows that never run on the development machines.
package actionlint

import _ "github.com/rhysd/actionlint/cmd/actionlint"
