#!/usr/bin/env bash
# Compare posd's ESC/POS encoder with the npm package node-thermal-printer on
# the same 20-row receipt (bench/receipt20.json).
#
#   bench/escpos-compare.sh [N_POSD] [N_NODE]
#
# Installs node-thermal-printer into bench/node_modules (gitignored), runs
# bench/escposbench (Go) and bench/escpos-compare.js (node), and prints both
# rates and their ratio, by wall clock and by CPU time (CPU time is the fair
# figure on a busy machine). The Go benchmark with allocation counts is:
#   CGO_ENABLED=1 go test ./internal/printer -run '^$' -bench EncodeReceipt20Rows -benchmem
set -euo pipefail
cd "$(dirname "$0")/.."
N_POSD=${1:-200000}
N_NODE=${2:-2000}

npm install --prefix bench --no-audit --no-fund --silent >/dev/null
export CGO_ENABLED=1

posd_out=$(go run ./bench/escposbench -n "$N_POSD" -json bench/receipt20.json)
node_out=$(node bench/escpos-compare.js "$N_NODE" bench/receipt20.json)
echo "$posd_out" | grep -v '_rate_'
echo "$node_out" | grep -v '_rate_'

val() { echo "$1" | sed -n "s/^$2=//p"; }
pw=$(val "$posd_out" posd_rate_wall); pc=$(val "$posd_out" posd_rate_cpu)
nw=$(val "$node_out" node_rate_wall); nc=$(val "$node_out" node_rate_cpu)
awk -v pw="$pw" -v pc="$pc" -v nw="$nw" -v nc="$nc" 'BEGIN {
	printf "%-22s %14s %14s\n", "receipts/s", "wall clock", "cpu time"
	printf "%-22s %14d %14d\n", "posd (Go)", pw, pc
	printf "%-22s %14d %14d\n", "node-thermal-printer", nw, nc
	printf "%-22s %13.1fx %13.1fx\n", "ratio posd/node", pw / nw, pc / nc
}'
