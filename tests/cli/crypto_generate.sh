#!/bin/sh
# ctest cli/crypto-generate: `flexchain crypto generate` against a cluster
# configuration. Usage: crypto_generate.sh FLEXCHAIN CLUSTER_YAML
# Checks: every node and one client per organisation get cert + key with the
# right modes, every certificate verifies against its organisation's CA with
# `openssl verify` (and not against another organisation's CA), a rerun
# without --force fails with one clear line, --force succeeds, --help exits 0
# at every level, bad usage exits non-zero with one line.
set -eu

fc=$1
yaml=$2
test_name=cli-crypto
. "$(dirname "$0")/../integration/cluster_lib.sh"
out=$tmp/crypto

mode() { stat -c %a "$1"; }

# --- help at every level -------------------------------------------------
"$fc" --help >"$tmp/h" || fail "flexchain --help"
grep -q crypto "$tmp/h" || fail "top help lists no crypto group"
"$fc" crypto --help >"$tmp/h" || fail "flexchain crypto --help"
grep -q generate "$tmp/h" || fail "crypto help lists no generate"
"$fc" crypto generate --help >"$tmp/h" || fail "flexchain crypto generate --help"
grep -q -- --force "$tmp/h" || fail "generate help lacks --force"

# --- bad usage: non-zero, one line ---------------------------------------
for args in "nosuchgroup" "crypto nosuchcmd" "crypto" "crypto generate" \
	"crypto generate --config $yaml --bogus" "crypto generate --config" \
	"crypto generate --config $yaml --days x" ""; do
	# shellcheck disable=SC2086
	if "$fc" $args >"$tmp/o" 2>"$tmp/e"; then
		fail "'flexchain $args' succeeded"
	fi
	one_line "$tmp/e"
	[ ! -s "$tmp/o" ] || fail "'flexchain $args' wrote to stdout"
done
if "$fc" crypto generate --config "$tmp/missing.yaml" --out "$out" 2>"$tmp/e"; then
	fail "missing config accepted"
fi
one_line "$tmp/e"
[ ! -e "$out" ] || fail "output written for a missing config"

# --- generate ------------------------------------------------------------
"$fc" crypto generate --config "$yaml" --out "$out" >"$tmp/summary" ||
	fail "crypto generate"

[ "$(mode "$out")" = 700 ] || fail "mode of $out"
for org in $(cd "$out" && ls); do
	[ -f "$out/$org/ca/ca.crt" ] || fail "$org CA cert"
	[ "$(mode "$out/$org/ca/ca.key")" = 600 ] || fail "$org CA key mode"
	[ "$(mode "$out/$org/ca")" = 700 ] || fail "$org CA dir mode"
done

# Every node id the YAML names ("id: X"), plus one client per organisation.
sed -n 's/.*[{ ]id: *\([A-Za-z0-9_.-]*\).*/\1/p' "$yaml" >"$tmp/ids"
[ -s "$tmp/ids" ] || fail "no node ids found in $yaml"
orgs=$(cd "$out" && ls)
for org in $orgs; do
	echo "client.$org" >>"$tmp/ids"
done

# check_identity DIR: DIR is <out>/<org>/<role>/<id>
check_identity() {
	d=$1
	id=$(basename "$d")
	role=$(basename "$(dirname "$d")")
	org=$(basename "$(dirname "$(dirname "$d")")")
	[ -f "$d/cert.pem" ] || fail "no $d/cert.pem"
	[ "$(mode "$d/key.pem")" = 600 ] || fail "mode of $d/key.pem"
	[ "$(mode "$d")" = 700 ] || fail "mode of $d"
	openssl verify -CAfile "$out/$org/ca/ca.crt" "$d/cert.pem" >/dev/null ||
		fail "$d/cert.pem does not verify against $org's CA"
	for other in $orgs; do
		[ "$other" = "$org" ] && continue
		if openssl verify -CAfile "$out/$other/ca/ca.crt" "$d/cert.pem" >/dev/null 2>&1; then
			fail "$d/cert.pem verifies against $other's CA"
		fi
	done
	subj=$(openssl x509 -in "$d/cert.pem" -noout -subject -nameopt RFC2253)
	case $subj in
	*"CN=$id,OU=$role,O=$org"*) ;;
	*) fail "subject of $d: $subj" ;;
	esac
	# The key belongs to the certificate.
	a=$(openssl x509 -in "$d/cert.pem" -noout -pubkey | openssl sha256)
	b=$(openssl pkey -in "$d/key.pem" -pubout | openssl sha256)
	[ "$a" = "$b" ] || fail "$d: key does not match certificate"
}

n=0
while read -r id; do
	dirs=$(find "$out" -mindepth 3 -maxdepth 3 -type d -name "$id")
	[ "$(echo "$dirs" | grep -c .)" -eq 1 ] || fail "identity $id: found '$dirs'"
	check_identity "$dirs"
	n=$((n + 1))
done <"$tmp/ids"
grep -q "wrote $(echo "$orgs" | wc -w) CAs* and $n identit" "$tmp/summary" ||
	{ cat "$tmp/summary" >&2; fail "summary does not match $n identities"; }
# The local cluster: orderer0 of Org1 and the client of Org2 where expected.
[ -f "$out/Org1/orderer/orderer0/cert.pem" ] || fail "Org1/orderer/orderer0"
[ -f "$out/Org2/client/client.Org2/key.pem" ] || fail "Org2/client/client.Org2"
openssl x509 -in "$out/Org1/orderer/orderer0/cert.pem" -noout -ext subjectAltName |
	grep -q "DNS:localhost" || fail "SAN lacks localhost"

# --- no silent overwrite; --force regenerates ------------------------------
before=$(openssl sha256 <"$out/Org1/ca/ca.crt")
if "$fc" crypto generate --config "$yaml" --out "$out" >"$tmp/o" 2>"$tmp/e"; then
	fail "rerun without --force succeeded"
fi
one_line "$tmp/e"
grep -q -- "--force" "$tmp/e" || fail "rerun message does not mention --force"
grep -q "refusing to overwrite" "$tmp/e" || fail "rerun message unclear"
[ "$(openssl sha256 <"$out/Org1/ca/ca.crt")" = "$before" ] || fail "CA changed by refused rerun"

"$fc" crypto generate --config "$yaml" --out "$out" --force >/dev/null || fail "--force"
"$fc" crypto generate --config "$yaml" --out "$out" --force --days 30 >/dev/null ||
	fail "--force twice"
[ "$(openssl sha256 <"$out/Org1/ca/ca.crt")" != "$before" ] || fail "--force kept the old CA"
[ "$(mode "$out/Org2/client/client.Org2/key.pem")" = 600 ] || fail "key mode after --force"
openssl verify -CAfile "$out/Org2/ca/ca.crt" "$out/Org2/compute/compute-org2-1/cert.pem" \
	>/dev/null || fail "verify after --force"
# No temporary files left behind.
if find "$out" -name '*.tmp*' | grep -q .; then
	fail "temporary files left in $out"
fi
echo "cli/crypto-generate: ok ($n identities)"
