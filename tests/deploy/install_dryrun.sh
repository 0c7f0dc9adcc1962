#!/bin/sh
# ctest deploy/install_dryrun: deploy/install.sh into a temp root.
# --dry-run changes nothing; a real run installs binaries, units, docs and a
# configuration with its data under /var/lib/flexchain; a second run changes
# nothing and keeps an edited configuration. Env: FC_SRC, FC_BUILD.
set -eu
test_name=deploy-install
. "$FC_SRC/tests/integration/cluster_lib.sh"
inst=$FC_SRC/deploy/install.sh
r=$tmp/root

bash "$inst" --help >"$tmp/help.out" || fail "--help exited non-zero"
grep -q '^Usage: deploy/install.sh' "$tmp/help.out" || fail "--help prints no usage"
rc=0
bash "$inst" --no-such-option >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "bad usage exited $rc, expected 2"

# 1. dry run: prints the plan, writes nothing
bash "$inst" --build "$FC_BUILD" --root "$r" --dry-run >"$tmp/dry.out" 2>"$tmp/dry.log" ||
	fail "dry run exited non-zero"
cat "$tmp/dry.out"
[ ! -e "$r" ] || fail "dry run created $r"
grep -q "would run: install -D -m 0755 .*/flexchain-orderer $r/usr/local/bin/flexchain-orderer" \
	"$tmp/dry.out" || fail "dry run does not show the orderer binary"
grep -q "would run: install -D -m 0644 .*flexchain-compute@.service $r/etc/systemd/system/" \
	"$tmp/dry.out" || fail "dry run does not show the compute unit"
grep -q "cluster.yaml" "$tmp/dry.out" || fail "dry run does not show the configuration"

# 2. real run into the temp root
bash "$inst" --build "$FC_BUILD" --root "$r" >"$tmp/inst1.out" 2>"$tmp/inst1.log" ||
	fail "install exited non-zero"
for b in flexchain flexchain-orderer flexchain-storage; do
	[ -x "$r/usr/local/bin/$b" ] || fail "$b not installed"
	cmp -s "$r/usr/local/bin/$b" "$(find "$FC_BUILD" -maxdepth 3 -type f -name "$b" | head -n 1)" ||
		fail "$b differs from the build"
done
for u in flexchain-orderer@.service flexchain-storage@.service flexchain-memory@.service \
	flexchain-compute@.service flexchain.target; do
	cmp -s "$r/etc/systemd/system/$u" "$FC_SRC/deploy/systemd/$u" || fail "unit $u not installed"
done
[ -f "$r/usr/local/share/doc/flexchain/README.md" ] || fail "README.md not installed"
c=$r/etc/flexchain/cluster.yaml
[ -f "$c" ] || fail "no configuration installed"
grep -q /tmp/flexchain-local "$c" && fail "installed configuration still writes to /tmp"
grep -q 'data_dir: /var/lib/flexchain/orderer0' "$c" || fail "orderer0's data_dir is not under /var/lib/flexchain"
# the installed configuration loads (the CLI's config check is crypto generate)
"$r/usr/local/bin/flexchain" crypto generate --config "$c" --out "$tmp/crypto" >/dev/null ||
	fail "the installed configuration does not load"

# 3. idempotent, and an operator's configuration is kept
echo "# edited by the operator" >>"$c"
cp "$c" "$tmp/edited.yaml"
bash "$inst" --build "$FC_BUILD" --root "$r" >"$tmp/inst2.out" 2>"$tmp/inst2.log" ||
	fail "second install exited non-zero"
cat "$tmp/inst2.out"
cmp -s "$c" "$tmp/edited.yaml" || fail "second install replaced the configuration"
grep -q "kept existing $c" "$tmp/inst2.out" || fail "second install does not say it kept the configuration"
grep -q '^install: installed' "$tmp/inst2.out" && fail "second install changed files"
# 4. --enable: a dry run on this host shows the crypto material and the units
# of the configuration's nodes (all on 127.0.0.1); not with --root
rc=0
bash "$inst" --build "$FC_BUILD" --root "$r" --enable >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "--enable with --root exited $rc, expected 2"
if [ -e /etc/flexchain/cluster.yaml ]; then
	echo "note: this host has /etc/flexchain/cluster.yaml; --enable dry run not checked"
else
	bash "$inst" --build "$FC_BUILD" --enable --dry-run >"$tmp/enable.out" 2>"$tmp/enable.log" ||
		fail "--enable --dry-run exited non-zero"
	grep -q "would run: .*flexchain crypto generate --config /etc/flexchain/cluster.yaml" "$tmp/enable.out" ||
		fail "--enable dry run does not generate the crypto material"
	grep -q "would run: systemctl enable .*flexchain-orderer@orderer0.service.*flexchain-compute@compute-org2-1.service" \
		"$tmp/enable.out" || fail "--enable dry run does not enable the nodes' units"
	grep -q "next step: systemctl start flexchain.target" "$tmp/enable.out" ||
		fail "--enable dry run does not name the next step"
fi
echo "deploy/install_dryrun: OK"
