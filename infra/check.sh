#!/usr/bin/env bash
# The infra checks, all offline: type check, the jest tests (aws-cdk-lib/assertions and
# cdk-nag), `SKIP_BUNDLING=1 cdk synth` of both modes (and of the proxy and Aurora variants),
# cfn-lint on every template, and one real synth that builds the four Rust functions (ingest-fn,
# sg-sync-fn, migrate, ingest-expire) with cargo-lambda. Ends with the plain line
# `infra: N passed, N failed` (each jest test and each other check counts once).
set -uo pipefail
source "$(dirname "$0")/../tests/env.sh"
ensure_venv
cd "$root/infra"

passed=0 failed=0
check() { # check NAME COMMAND...: runs one check and counts it
    local name=$1
    shift
    echo "== infra: $name"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name" >&2; fi
}

# Node.js 22 or newer first on PATH (installed under the cache folder when the machine's is older).
{ ensure_node && ensure_infra_packages; } || {
    echo "infra: 0 passed, 1 failed"
    exit 1
}

check "tsc" npx tsc --noEmit

jest_json=$(mktemp)
npx jest --json --outputFile="$jest_json" 2>&1 | grep -v '^\s*$' | tail -n 60
read -r jp jf < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites);' "$jest_json" 2>/dev/null || echo "0 1")
passed=$((passed + jp)) failed=$((failed + jf))
rm -f "$jest_json"

out=$(mktemp -d)
synth() { # synth DIR [-c k=v ...]
    local dir=$1
    shift
    SKIP_BUNDLING=1 npx cdk synth --quiet -c region=ap-northeast-1 -o "$dir" "$@" >"$dir.log" 2>&1 || {
        cat "$dir.log" >&2
        return 1
    }
}
check "SKIP_BUNDLING=1 cdk synth (public, iam)" synth "$out/public"
check "SKIP_BUNDLING=1 cdk synth (vpc, secret)" synth "$out/vpc" -c mode=vpc -c dbAuth=secret
check "SKIP_BUNDLING=1 cdk synth (vpc, iam, proxy)" synth "$out/proxy" -c mode=vpc -c proxy=true
check "SKIP_BUNDLING=1 cdk synth (aurora-mysql, public, iam)" synth "$out/aurora" -c engine=aurora-mysql
check "SKIP_BUNDLING=1 cdk synth (aurora-mysql, vpc, secret, auto-pause, a reader)" synth "$out/aurora-vpc" \
    -c engine=aurora-mysql -c mode=vpc -c dbAuth=secret -c minCapacity=0 -c auroraReaders=1
# Retention with its archive, in the vpc mode (ingest-expire's group, the S3 gateway endpoint).
check "SKIP_BUNDLING=1 cdk synth (vpc, secret, retentionDays, archive)" synth "$out/retention" \
    -c mode=vpc -c dbAuth=secret -c retentionDays=30 -c archive=true
# A region where Lambda offers no Function URLs (the stack has none there), at a reservation whose
# SQS mapping would pass Lambda's MaximumConcurrency of 1,000 uncapped.
check "SKIP_BUNDLING=1 cdk synth (eu-central-2: no Function URL; ingestConcurrency 3000)" synth "$out/no-url" \
    -c region=eu-central-2 -c dbMaxConnections=4000 -c ingestConcurrency=3000 -c lambdaConcurrencyQuota=4000
# W3005 (a DependsOn that a GetAtt already implies) is how CDK writes every function's role.
check "cfn-lint" cfn-lint --ignore-checks W3005 -- "$out"/public/*.template.json "$out"/vpc/*.template.json \
    "$out"/proxy/*.template.json "$out"/aurora/*.template.json "$out"/aurora-vpc/*.template.json \
    "$out"/no-url/*.template.json "$out"/retention/*.template.json

# The real build. The arm64 standard library comes from rustup; where rustup cannot reach
# its server the build falls back to x86_64 and says so, which still proves the bundling.
has_arm64_std() {
    test -d "$(rustc --print target-libdir --target aarch64-unknown-linux-gnu 2>/dev/null)"
}
arch=arm64
if ! has_arm64_std; then
    timeout 60 rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
    if ! has_arm64_std; then
        echo "infra: rustup could not install aarch64-unknown-linux-gnu here; bundling for x86_64 instead" >&2
        arch=x86_64
    fi
fi
bundled() { # a real synth, then each function asset must hold a bootstrap of the right machine
    # retentionDays: ingest-expire is the fourth Rust function.
    npx cdk synth --quiet -c region=ap-northeast-1 -c architecture="$arch" -c retentionDays=30 -o "$out/bundled" \
        >"$out/bundled.log" 2>&1 || {
        tail -n 40 "$out/bundled.log" >&2
        return 1
    }
    node "$root/infra/scripts/check-bundles.js" "$out/bundled" "$arch" 4
}
check "cdk synth with bundling ($arch)" bundled

rm -rf "$out"
echo "infra: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
