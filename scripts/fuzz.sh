#!/usr/bin/env bash
# Fuzzes every parser that takes outside bytes (fuzz/fuzz_targets/*.rs) with cargo fuzz
# (libFuzzer, AddressSanitizer) on the nightly toolchain, each target for a set time, starting
# from the committed seeds in fuzz/seeds/<target>/. New inputs go to fuzz/corpus/<target>/
# (not committed); a crash is written to fuzz/artifacts/<target>/ and ends the script with a
# failure: turn it into a regression test in the crate that owns the parser.
#
#   scripts/fuzz.sh [--quick] [--time SECONDS] [TARGET…]
#
# --quick: 20 s per target (what CI runs); default 300 s per target. Prints, per target, the
# executions, the time and the corpus size from libFuzzer's last report.
#
# The seeds: CSRs from `openssl req` (P-256 and P-384), OCSP requests from `openssl ocsp
# -reqout` against the quickstart's example certificate (SHA-1 and SHA-256 CertIDs, with and
# without a nonce, and the GET path's base64 with and without percent-encoding), the TNAuthList
# of two SHAKEN certificates from the field (../shared/vectors at the time) and of a quickstart
# operator certificate with its tscaNumberingResources, every numbering text form, and a body
# of every JSON route.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) seconds=20 ;;
    --time) seconds="$2"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=(csr ocsp_request numbering_text numbering_der json_bodies)

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: needs the nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

cd fuzz
echo "== building the fuzz targets (nightly, AddressSanitizer)"
cargo +nightly fuzz build

failed=()
summary=()
for target in "${targets[@]}"; do
  echo "== $target: ${seconds} s"
  mkdir -p "corpus/$target"
  log="target/fuzz-$target.log"
  start=$(date +%s)
  if cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    outcome=ok
  else
    outcome=CRASH
    failed+=("$target")
    tail -40 "$log"
  fi
  elapsed=$(( $(date +%s) - start ))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(ls "corpus/$target" | wc -l)
  summary+=("$(printf '%-16s %-6s %12s executions %5s s  corpus %s' "$target" "$outcome" "$runs" "$elapsed" "$corpus")")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in ${failed[*]}; the inputs are in fuzz/artifacts/" >&2
  exit 1
fi
