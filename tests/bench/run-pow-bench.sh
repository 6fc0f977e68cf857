#!/usr/bin/env bash
# NAME
#   run-pow-bench.sh - hashcash v1 minting speed: mtep beside the hashcash tool
# SUMMARY
#   tests/bench/run-pow-bench.sh BUILD_DIR [MINTS_20] [MINTS_24]
# DESCRIPTION
#   Builds nothing: uses BUILD_DIR/mtepctl/mtepctl (build it first, Release or
#   RelWithDebInfo, without sanitizers) and the hashcash 1.22 tool. Prints a
#   markdown table of SHA-1 tries per second:
#     1. mtep's inner loop (mtepctl hashcash speed), one thread and every core;
#     2. real 20- and 24-bit stamps minted MINTS_20 (default 40) and MINTS_24
#        (default 8) times each, by mtepctl (one thread, then every core) and
#        by `hashcash -m` (one thread: the tool has no threads). A stamp of B
#        bits takes 2^B tries on average, so tries/s = mints * 2^B / seconds;
#        with few mints this estimate is rough (about 1/sqrt(mints)).
#   `hashcash -s` is not used: it times the tool's cores, not its minting.
#   Every stamp minted is checked with `hashcash -c` (ours) or mtepctl (the
#   tool's), so a fast but wrong minter cannot win.
set -euo pipefail

BUILD=${1:?usage: run-pow-bench.sh BUILD_DIR [MINTS_20] [MINTS_24]}
N20=${2:-40}
N24=${3:-8}
CTL=$BUILD/mtepctl/mtepctl
[[ -x $CTL ]] || { echo "missing $CTL: build it first" >&2; exit 2; }
command -v hashcash >/dev/null || { echo "the hashcash tool is not installed" >&2; exit 2; }

WORK=$(mktemp -d /tmp/pow-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
CORES=$(nproc)
conf() {  # FILE THREADS
  cat >"$1" <<CONF
[global]
user = ""
state_dir = "$WORK"
[pow]
mint_threads = $2
mint_budget = "1h"
CONF
}
conf "$WORK/one.conf" 1
conf "$WORK/all.conf" 0

now() { date +%s.%N; }
rate() {  # MINTS BITS SECONDS
  awk -v n="$1" -v b="$2" -v s="$3" 'BEGIN { printf "%.1f M", n * 2^b / s / 1e6 }'
}

# mint_ours CONF BITS N: mints N stamps with mtepctl, checks each with the tool.
mint_ours() {
  local conf=$1 bits=$2 n=$3 i t0 t1 stamp
  : >"$WORK/stamps"
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    "$CTL" -c "$conf" hashcash mint --bits "$bits" "bench$i@example.org" >>"$WORK/stamps"
  done
  t1=$(now)
  i=0
  while read -r stamp; do
    hashcash -c -q -y -b "$bits" -r "bench$i@example.org" "$stamp" \
      || { echo "hashcash refused our stamp $stamp" >&2; exit 1; }
    i=$((i + 1))
  done <"$WORK/stamps"
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

# mint_tool BITS N: mints N stamps with hashcash -m, checks each with mtepctl.
mint_tool() {
  local bits=$1 n=$2 i t0 t1 stamp
  : >"$WORK/stamps"
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    hashcash -m -q -b "$bits" -r "bench$i@example.org" >>"$WORK/stamps"
  done
  t1=$(now)
  i=0
  while read -r stamp; do
    "$CTL" -c "$WORK/one.conf" hashcash check --bits "$bits" --resource "bench$i@example.org" \
      "$stamp" >/dev/null || { echo "mtepctl refused the tool's stamp $stamp" >&2; exit 1; }
    i=$((i + 1))
  done <"$WORK/stamps"
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

speed() { "$CTL" hashcash speed --threads "$1" --seconds 3 | awk '{ printf "%.1f M", $1 / 1e6 }'; }

echo "pow bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "SHA-NI: $(grep -q -m1 sha_ni /proc/cpuinfo && echo yes || echo no), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| minter | threads | what | SHA-1 tries/s |"
echo "|---|---|---|---|"
echo "| mtep inner loop | 1 | 3 s, no stamp | $(speed 1) |"
echo "| mtep inner loop | $CORES | 3 s, no stamp | $(speed "$CORES") |"
for bits in 20 24; do
  n=$N20; [[ $bits == 24 ]] && n=$N24
  s=$(mint_ours "$WORK/one.conf" "$bits" "$n")
  echo "| mtepctl hashcash mint | 1 | $n stamps of $bits bits in ${s}s | $(rate "$n" "$bits" "$s") |"
  s=$(mint_ours "$WORK/all.conf" "$bits" "$n")
  echo "| mtepctl hashcash mint | $CORES | $n stamps of $bits bits in ${s}s | $(rate "$n" "$bits" "$s") |"
  s=$(mint_tool "$bits" "$n")
  echo "| hashcash 1.22 -m | 1 | $n stamps of $bits bits in ${s}s | $(rate "$n" "$bits" "$s") |"
done
