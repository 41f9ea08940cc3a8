//go:build tools

// Package promtool pins Prometheus (a served Go module), whose promtool tests/toolchain/lint.py builds so that
// tests/unit/test_alerts.py checks and unit-tests the expiry alerts' rules as Prometheus itself reads them.
package promtool

import _ "github.com/prometheus/prometheus/cmd/promtool"
