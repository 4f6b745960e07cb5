#!/usr/bin/env bash
# Refresh compose-spec.json (the Compose file JSON Schema that the unit tests
# validate compose.yaml against) from the Go module Docker Compose itself uses,
# github.com/compose-spec/compose-go/v2 (Apache-2.0), through the Go module proxy.
#   deploy/compose/update-compose-spec.sh [version]   # default: the pinned one
set -euo pipefail
version=${1:-v2.16.2}
dir=$(go mod download -json "github.com/compose-spec/compose-go/v2@$version" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
install -m 0644 "$dir/schema/compose-spec.json" "$(dirname "$0")/compose-spec.json"
echo "compose-spec.json <- compose-go $version"
