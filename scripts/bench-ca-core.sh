#!/usr/bin/env bash
# ca-core benchmarks beside `openssl speed`, measured in the same run on the same core.
#
#   scripts/bench-ca-core.sh          # writes target/bench-report/ca-core.md and prints it
#
# Benchmarks are never tests: nothing here fails on a timing. The machine is shared and
# noisy, so the report quotes criterion medians and ratios to the baseline of the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-report
mkdir -p "$out"
core=${BENCH_CORE:-1}
pin() { if command -v taskset >/dev/null; then taskset -c "$core" "$@"; else "$@"; fi; }

echo "== baseline: openssl speed ecdsap256 ecdsap384 (core $core)"
pin openssl speed -seconds 3 ecdsap256 ecdsap384 2>/dev/null | tee "$out/openssl-speed.txt"

echo "== cargo bench (criterion)"
cargo bench -p ca-core --no-run -q
pin cargo bench -q -p ca-core --bench ca_core 2>&1 | tee "$out/criterion-ca_core.txt"
pin cargo bench -q -p ca-core --bench crl 2>&1 | tee "$out/criterion-crl.txt"

python3 - "$out" <<'PY'
import json, pathlib, re, sys, datetime, platform, os
out = pathlib.Path(sys.argv[1])
speed = {}
for line in (out / "openssl-speed.txt").read_text().splitlines():
    m = re.search(r"ecdsa \((nistp256|nistp384)\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", line)
    if m:
        speed[m.group(1)] = float(m.group(2))
def median_ns(group, name):
    p = pathlib.Path("target/criterion") / group / name / "new" / "estimates.json"
    if not p.exists():
        return None
    return json.loads(p.read_text())["median"]["point_estimate"]
rows = []
for label, group, name, base in [
    ("certificate issue (check+build+lint+sign), P-256 CA", "certificate", "issue-P-256", "nistp256"),
    ("certificate sign only, P-256 CA", "certificate", "sign-only-P-256", "nistp256"),
    ("certificate issue, P-384 CA", "certificate", "issue-P-384", "nistp384"),
    ("certificate sign only, P-384 CA", "certificate", "sign-only-P-384", "nistp384"),
    ("OCSP response sign (nonce), P-256", "ocsp", "sign-response-P-256", "nistp256"),
    ("OCSP response sign (nonce), P-384", "ocsp", "sign-response-P-384", "nistp384"),
]:
    ns = median_ns(group, name)
    if ns is None:
        continue
    rate = 1e9 / ns
    b = speed.get(base)
    rows.append(f"| {label} | {ns/1000:.1f} µs | {rate:,.0f}/s | {b:,.0f}/s | {rate/b:.2f}× |" if b else f"| {label} | {ns/1000:.1f} µs | {rate:,.0f}/s | – | – |")
subset = median_ns("scope", "is_subset_of-1000x1000")
crl_ns = median_ns("crl", "sign-1M-entries-P-384")
crl_text = (out / "criterion-crl.txt").read_text()
rss = re.findall(r"peak RSS[^\n]*", crl_text)
size = re.findall(r"CRL size[^\n]*", crl_text)
report = [
    "# ca-core benchmark report", "",
    f"Run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores; criterion medians; baseline `openssl speed` ECDSA sign/s on the same core in the same run.", "",
    "| operation | median | rate | openssl sign/s | ratio |", "|---|---|---|---|---|", *rows, "",
]
if subset:
    report.append(f"`is_subset_of`, 1,000 ranges against 1,000 prefixes: median {subset/1000:.1f} µs.")
if crl_ns:
    report.append(f"1,000,000-entry CRL, encode + sign (P-384): median {crl_ns/1e6:.0f} ms. {' '.join(rss)} {' '.join(size)}")
(out / "ca-core.md").write_text("\n".join(report) + "\n")
print("\n".join(report))
PY
echo "report: $out/ca-core.md"
