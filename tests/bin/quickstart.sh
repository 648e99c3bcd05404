#!/usr/bin/env bash
# Quickstart: installs what is needed, starts two local Kafka-protocol brokers
# (nisshi) on free ports, runs linkgate between them with an example config,
# produces sample records with librdkafka and shows them mirrored, with lag.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

tests/bin/setup.sh
cache=${LINKGATE_CACHE_DIR:-$HOME/.cache/linkgate}
nisshi=${LINKGATE_NISSHI:-$cache/nisshi/bin/nisshi}

echo "==> building linkgate (release; about 12 minutes on 2 cores the first time)"
cargo build --release -p linkgate --bin linkgate -p linkgate-tests --bin lg-demo
linkgate=$root/target/release/linkgate
demo=$root/target/release/lg-demo

work=$(mktemp -d -t linkgate-quickstart-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "==> stopped; logs kept in $work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
src_port=$(free_port); dst_port=$(free_port); metrics_port=$(free_port); api_port=$(free_port)

start_broker() { # id port
  "$nisshi" broker --cluster-id "$1" --listener-url "tcp://127.0.0.1:$2" \
    --advertised-listener-url "tcp://127.0.0.1:$2" --storage-engine "memory://$1/" --silent \
    >"$work/$1.log" 2>&1 &
  pids+=($!)
}
echo "==> starting source broker on 127.0.0.1:$src_port and destination broker on 127.0.0.1:$dst_port"
start_broker source "$src_port"
start_broker destination "$dst_port"

# The topic is created once the broker answers (the client retries until then).
for i in $(seq 1 50); do
  if "$demo" create-topic "127.0.0.1:$src_port" orders 3 >/dev/null 2>&1; then break; fi
  [ "$i" = 50 ] && { echo "source broker did not come up; see $work/source.log"; exit 1; }
  sleep 0.2
done
echo "==> producing 1000 records (lz4) to topic orders on the source"
"$demo" produce "127.0.0.1:$src_port" orders 1000 lz4

cat >"$work/linkgate.toml" <<TOML
[gateway]
metrics_listen = "127.0.0.1:$metrics_port"
api_listen = "127.0.0.1:$api_port"

[clusters.source]
"bootstrap.servers" = "127.0.0.1:$src_port"
[clusters.destination]
"bootstrap.servers" = "127.0.0.1:$dst_port"

[[links]]
name = "quickstart"
source = "source"
destination = "destination"
mirror_topics = ["orders"]
[links.config]
"mirror.start.offset.spec" = "earliest"
TOML
echo "==> config $work/linkgate.toml:"
sed 's/^/    /' "$work/linkgate.toml"
echo "==> starting linkgate (log: $work/linkgate.log)"
"$linkgate" run --config "$work/linkgate.toml" >"$work/linkgate.log" 2>&1 &
pids+=($!)

echo "==> waiting until the mirror topic has caught up"
"$demo" wait-mirrored "127.0.0.1:$src_port" "127.0.0.1:$dst_port" orders 120
echo "==> first records of orders/0 on the destination:"
"$demo" show "127.0.0.1:$dst_port" orders 0 3

echo "==> producing 5000 more records while linkgate runs"
"$demo" produce "127.0.0.1:$src_port" orders 5000 zstd
"$demo" wait-mirrored "127.0.0.1:$src_port" "127.0.0.1:$dst_port" orders 120

echo "==> linkgate metrics (lag in records, records mirrored):"
python3 - "$metrics_port" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(("linkgate_mirror_lag_records", "linkgate_mirror_records_total")):
        print("    " + line)
PY

export LINKGATE_API="http://127.0.0.1:$api_port"
echo "==> linkgate mirror describe --link quickstart"
"$linkgate" mirror describe --link quickstart | sed 's/^/    /'
echo "==> linkgate mirror promote --topics orders (lag is 0: orders becomes an ordinary topic)"
for i in $(seq 1 20); do
  if "$linkgate" mirror promote --topics orders --link quickstart >"$work/promote.out" 2>&1; then break; fi
  [ "$i" = 20 ] && { cat "$work/promote.out"; echo "promote did not succeed"; exit 1; }
  sleep 0.5
done
sed 's/^/    /' "$work/promote.out"
"$linkgate" mirror list --link quickstart --include-stopped | sed 's/^/    /'
echo "==> done: 6000 records mirrored from source to destination, then promoted"
