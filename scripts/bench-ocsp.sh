#!/usr/bin/env bash
# OCSP responder benchmark (issue 5, DESIGN §9), beside baselines measured in the same run:
#   S1   cached GET, keep-alive            vs the same server's minimal handler (/healthz)
#   S1b  cached GET, no keep-alive         vs /healthz without keep-alive
#   S2   POST with a nonce (signed live)   vs `openssl ocsp` serving the same CA's responder
# Each scenario runs 3 × 5 s with oha; the report gives the median requests/s and latency.
#
#   scripts/bench-ocsp.sh        # needs oha (cargo install oha) and openssl; writes
#                                # target/bench-report/ocsp.md
# Load goes to 127.0.0.1 only and every process is stopped at the end. Never a test.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v oha >/dev/null || { echo "oha not found: cargo install oha" >&2; exit 1; }
out=target/bench-report
mkdir -p "$out"
cargo build --release -q -p tsca
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$dir"; }
trap cleanup EXIT

target/release/tsca quickstart --data-dir "$dir/data" --registry-addr 127.0.0.1:38443 \
  --publication-addr 127.0.0.1:38080 > "$dir/out.txt" 2> "$dir/err.txt" &
pids+=($!)
for _ in $(seq 1 120); do grep -q "^Ctrl-C stops it" "$dir/out.txt" 2>/dev/null && break; sleep 1; done
D="$dir/data"
issuer="$D/example-operator/issuer.pem"
cert="$D/example-operator/certificate.pem"
openssl ocsp -issuer "$issuer" -cert "$cert" -no_nonce -reqout "$dir/req.der" >/dev/null
openssl ocsp -issuer "$issuer" -cert "$cert" -reqout "$dir/req-nonce.der" >/dev/null
get_path=$(python3 -c 'import base64,sys,urllib.parse; print(urllib.parse.quote(base64.b64encode(open(sys.argv[1],"rb").read()).decode(), safe=""))' "$dir/req.der")

# The baseline responder: `openssl ocsp` with the same delegated responder key and certificate
# (taken from the quickstart database and decrypted with its passphrase) and an index of the
# example certificate.
python3 - "$D" "$dir" <<'PY'
import sqlite3, sys, pathlib
data, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
db = sqlite3.connect(data / "tsca.db")
der, key = db.execute("""SELECT c.der, k.pkcs8_encrypted_pem FROM certificates c JOIN keys k ON k.id = c.key_id
    WHERE c.profile = 'ocsp-responder' AND c.subject_authority_id = (SELECT id FROM authorities WHERE name = 'france')
    AND c.status = 'valid' ORDER BY c.not_after DESC LIMIT 1""").fetchone()
(work / "responder.der").write_bytes(der)
(work / "responder-key.enc.pem").write_text(key)
PY
openssl x509 -inform DER -in "$dir/responder.der" -out "$dir/responder.pem"
openssl pkey -in "$dir/responder-key.enc.pem" -passin "file:$D/secrets/key-passphrase" -out "$dir/responder-key.pem"
serial=$(openssl x509 -in "$cert" -noout -serial | cut -d= -f2)
enddate=$(date -u -d "$(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
subject=$(openssl x509 -in "$cert" -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$enddate" "$serial" "$subject" > "$dir/index.txt"
openssl ocsp -index "$dir/index.txt" -port 38090 -rsigner "$dir/responder.pem" -rkey "$dir/responder-key.pem" \
  -CA "$issuer" -ignore_err > /dev/null 2>&1 &
pids+=($!)
sleep 1

run() { # label, oha args… → prints "rps p50_ms p99_ms" medians of 3 runs
  local label=$1; shift
  local results=()
  for _ in 1 2 3; do
    results+=("$(oha -z 5s --no-tui --output-format json "$@" 2>/dev/null | python3 -c '
import json,sys
j=json.load(sys.stdin); s=j["summary"]; p=j["latencyPercentiles"]
codes=j.get("statusCodeDistribution",{})
print(s["requestsPerSec"], p["p50"]*1000, p["p99"]*1000, codes)')")
  done
  printf '%s\n' "${results[@]}" | python3 -c '
import sys, statistics
rows=[l.split(" ",3) for l in sys.stdin.read().strip().splitlines()]
rps=statistics.median(float(r[0]) for r in rows); p50=statistics.median(float(r[1]) for r in rows); p99=statistics.median(float(r[2]) for r in rows)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {rows[-1][3]}")' | sed "s/^/$label /"
}

{
  run S1 -c 32 "http://127.0.0.1:38080/ocsp/$get_path"
  run S1-limit -c 32 "http://127.0.0.1:38080/healthz"
  run S1b -c 32 --disable-keepalive "http://127.0.0.1:38080/ocsp/$get_path"
  run S1b-limit -c 32 --disable-keepalive "http://127.0.0.1:38080/healthz"
  run S2 -c 8 -m POST -T application/ocsp-request -D "$dir/req-nonce.der" "http://127.0.0.1:38080/ocsp"
  run S2-openssl -c 8 -m POST -T application/ocsp-request -D "$dir/req-nonce.der" "http://127.0.0.1:38090/"
} | tee "$dir/results.txt"

python3 - "$dir/results.txt" "$out/ocsp.md" <<'PY'
import sys, datetime, os
rows = {l.split()[0]: l.split() for l in open(sys.argv[1]) if l.strip()}
def rps(k): return float(rows[k][1])
lines = ["# OCSP responder benchmark", "",
  f"Run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, oha 3 × 5 s per scenario (medians), release build, quickstart data.", "",
  "| scenario | req/s | p50 ms | p99 ms | baseline | baseline req/s | ratio |", "|---|---|---|---|---|---|---|"]
for s, b in [("S1", "S1-limit"), ("S1b", "S1b-limit"), ("S2", "S2-openssl")]:
    r, base = rows[s], rows[b]
    lines.append(f"| {s} | {rps(s):,.0f} | {r[2]} | {r[3]} | {b} | {rps(b):,.0f} | {rps(s)/rps(b):.2f}× |")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
