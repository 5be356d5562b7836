#!/usr/bin/env bash
# Checks the Prometheus alert rules (docs/operations/alerts.yml) and runs their
# unit tests (alerts.test.yml) with promtool, from Debian's `prometheus`
# package. Without promtool this is skipped, saying so, except under CI=true.
set -euo pipefail
cd "$(dirname "$0")/../docs/operations"
if ! command -v promtool >/dev/null 2>&1; then
    if [[ "${CI:-}" == true ]]; then
        echo "alerts: promtool is required under CI=true (apt-get install prometheus)" >&2
        exit 1
    fi
    echo "alerts: skipped: promtool not installed (apt-get install --no-install-recommends prometheus)" >&2
    exit 0
fi
promtool check rules alerts.yml
promtool test rules alerts.test.yml
