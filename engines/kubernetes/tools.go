//go:build tools

// Package engines pins the main package this module builds (the Go "tools" idiom).
package engines

import _ "github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes"
