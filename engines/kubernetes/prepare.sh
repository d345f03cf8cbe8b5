#!/usr/bin/env bash
# The provider's main package embeds schema-embed.json and terraform-mapping-embed.json,
# which its release build generates (go generate) and which the module zip therefore lacks.
# Do what that step does, into gen/ (git-ignored): copy the package from the module cache
# and run its own generate.go with the version to embed.
set -euo pipefail
src=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes
rm -rf gen && mkdir -p gen/pulumi-resource-kubernetes
cp "$src"/main.go "$src"/generate.go "$src"/schema.json "$src"/terraform-mapping.json gen/pulumi-resource-kubernetes/
chmod -R u+w gen
(cd gen/pulumi-resource-kubernetes && VERSION="$ENGINE_VERSION" go run generate.go)
