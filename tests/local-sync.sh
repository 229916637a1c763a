#!/usr/bin/env bash
# The main job on one machine: moto's EC2 API holds three stand-ins for the database's security
# groups (one with a rule this project does not own); sg-sync applies the EC2 ranges of
# ap-northeast-1 from ip-ranges.json to them; the groups are printed rule by rule.
#
# IP_RANGES_URL picks the file (default: the live one; on a machine without internet, e.g.
# IP_RANGES_URL=file://$PWD/../shared/fixtures/ip-ranges/ip-ranges-2026-08-22.json).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PROJECT_CACHE:-${HOME:-/root}/.cache/lambda-rds-ingest}
mkdir -p "$cache"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
venv=$cache/venv
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing moto into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$cache/moto-local.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=ap-northeast-1 AWS_DEFAULT_REGION=ap-northeast-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

groups=$("$venv/bin/python" - <<'PY'
import boto3
ec2 = boto3.client("ec2")
vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
ids = [ec2.create_security_group(GroupName=f"db-{i}", Description="database", VpcId=vpc)["GroupId"] for i in range(3)]
ec2.authorize_security_group_ingress(GroupId=ids[0], IpPermissions=[{
    "IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306,
    "IpRanges": [{"CidrIp": "198.51.100.7/32", "Description": "office"}]}])
print(",".join(ids))
PY
)

cd "$root"
cargo build --quiet -p sg-sync-fn --bin sg-sync
sg_sync=$CARGO_TARGET_DIR/debug/sg-sync
echo "== plan"
"$sg_sync" plan --security-group-ids "$groups" | head -6
echo "   ..."
echo "== apply"
"$sg_sync" apply --security-group-ids "$groups" | sed -n '1,2p'
echo "== the groups now (second run: nothing to change)"
"$sg_sync" apply --security-group-ids "$groups"
echo "== rules"
"$venv/bin/python" - "$groups" <<'PY'
import sys, boto3
ec2 = boto3.client("ec2")
for g in sys.argv[1].split(","):
    rules = [(r.get("Description", ""), r["CidrIp"], p["FromPort"])
             for sg in ec2.describe_security_groups(GroupIds=[g])["SecurityGroups"]
             for p in sg["IpPermissions"] for r in p["IpRanges"]]
    managed = [r for r in rules if r[0].startswith("sg-sync-fn:")]
    other = [r for r in rules if not r[0].startswith("sg-sync-fn:")]
    print(f"{g}: {len(managed)} managed, {len(other)} other")
    for d, cidr, port in sorted(managed)[:3]:
        print(f"    managed  tcp/{port} {cidr:<18} {d}")
    if len(managed) > 3:
        print(f"    ... {len(managed) - 3} more managed")
    for d, cidr, port in other:
        print(f"    other    tcp/{port} {cidr:<18} {d}  (untouched)")
PY
