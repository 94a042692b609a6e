//go:build tools

// Package tools pins the Pulumi CLI main package so that `go mod tidy` keeps
// its dependencies in go.mod/go.sum. It is never compiled into anything; the
// binary is built by tools/build-pulumi.sh with
// `go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi`.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
