#!/bin/sh
# ctest deploy/systemd_verify: `systemd-analyze verify` on every unit of
# deploy/systemd, with the binaries' paths pointing into the build tree, and
# checks of the settings the units promise. Env: FC_SRC, FC_BUILD.
# Any diagnostic that names one of our units is a failure (systemd-analyze
# exits 0 on unknown keys or bad values and only prints them).
set -eu
test_name=deploy-systemd
. "$FC_SRC/tests/integration/cluster_lib.sh"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not installed (package systemd)"
	exit 77
fi
units=$FC_SRC/deploy/systemd
mkdir -p "$tmp/units"
for kind in orderer storage memory compute; do
	f=$units/flexchain-$kind@.service
	[ -f "$f" ] || fail "missing unit $f"
	bin=$(find "$FC_BUILD" -maxdepth 3 -type f -name "flexchain-$kind" -perm -u+x | sort | head -n 1)
	if [ -z "$bin" ]; then
		echo "note: flexchain-$kind is not built; its unit is checked with /bin/true"
		bin=/bin/true
	fi
	sed "s|/usr/local/bin/flexchain-$kind|$bin|g" "$f" >"$tmp/units/flexchain-$kind@.service"

	# What the units promise (README.md, "Deploying on a cluster"): check the lines are there.
	for want in "Type=notify" \
		"ExecStart=/usr/local/bin/flexchain-$kind --config /etc/flexchain/cluster.yaml --id %i" \
		"Restart=on-failure" "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" \
		"PrivateTmp=yes" "StateDirectory=flexchain" "LimitMEMLOCK=infinity" "User=flexchain" \
		"StandardOutput=journal" "WantedBy=flexchain.target" "PartOf=flexchain.target" \
		"Before=flexchain.target"; do
		grep -qxF "$want" "$f" || fail "$(basename "$f"): no line '$want'"
	done
	grep -q '^DynamicUser=yes' "$f" && fail "$(basename "$f"): DynamicUser=yes"
	grep -q '^TimeoutStopSec=' "$f" || fail "$(basename "$f"): no TimeoutStopSec"
done
cp "$units/flexchain.target" "$tmp/units/"

cd "$tmp/units"
rc=0
systemd-analyze verify --man=no ./flexchain-orderer@.service ./flexchain-storage@.service \
	./flexchain-memory@.service ./flexchain-compute@.service ./flexchain.target \
	>"$tmp/verify.log" 2>&1 || rc=$?
cat "$tmp/verify.log"
[ $rc = 0 ] || fail "systemd-analyze verify exited $rc"
if grep -E 'flexchain(-[a-z]+@|\.target)' "$tmp/verify.log" >/dev/null; then
	fail "systemd-analyze verify reported problems in our units (above)"
fi
echo "deploy/systemd_verify: 5 units verified"
