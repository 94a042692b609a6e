//go:build tools

// The command this module builds; the blank import keeps it in go.mod/go.sum.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
