#!/usr/bin/env bash
# Routed training cost per image as the experts grow: the switch preset with
# its four experts copied to E = 4, 8, 16, 32, 64 (the router's last layer
# widened to E), `moecl bench moe` on each in one sitting. With conditional
# computation each image runs one expert whatever E is, so images per second
# should stay flat while the dense evaluation (every expert on every image)
# falls as 1/E. Usage: bash bench/moe_experts.sh [moecl bench moe options]
# (default --batch 128 --steps 3 --capacity-factor 4: no image dropped).
set -euo pipefail
cd "$(dirname "$0")/.."
MOECL=${MOECL:-./build/moecl}
ARGS=("$@")
# Every routed expert keeps buffers for a whole batch: 32 and 64 experts at
# batch 128 need more than the 5 GiB PoCL reports on a 24 GiB machine, so
# let moecl fill three quarters of the host's memory (a CPU device's own).
if [ -z "${MOECL_DEVICE_MEMORY_MB:-}" ] && [ -r /proc/meminfo ]; then
  export MOECL_DEVICE_MEMORY_MB=$(awk '/MemTotal/ { print int($2 / 1024 * 3 / 4) }' /proc/meminfo)
fi
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--batch 128 --steps 3 --capacity-factor 4)
dir=$(mktemp -d /tmp/moecl-experts-XXXXXX)
trap 'rm -rf "$dir"' EXIT
for E in 4 8 16 32 64; do
  python3 - "$E" >"$dir/switch$E.json" <<'PY'
import json, sys
E = int(sys.argv[1])
m = json.load(open("assets/models/switch.json"))
expert, router = m["parts"][0], m["parts"][-1]
parts = []
for k in range(E):
    e = json.loads(json.dumps(expert))
    e["name"] = "expert_%d" % (k + 1)
    parts.append(e)
router["layers"][-1]["units"] = E
m["name"] = "switch%d" % E
m["parts"] = parts + [router]
m["mixture"]["experts"] = [p["name"] for p in parts]
print(json.dumps(m))
PY
  echo "== $E experts"
  "$MOECL" --quiet bench moe --model "$dir/switch$E.json" "${ARGS[@]}"
done
