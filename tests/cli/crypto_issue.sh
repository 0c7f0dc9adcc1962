#!/bin/sh
# ctest cli/crypto-issue: `flexchain crypto issue` adds one identity with an
# organisation's existing CA. Usage: crypto_issue.sh FLEXCHAIN CLUSTER_YAML
# Checks: the new certificate verifies against its organisation's CA (not the
# other's), carries O/OU/CN and the --host names, key 0600 and directory 0700;
# a second issue without --force fails with one line and leaves the files
# as they were, --force replaces them; an id the configuration names keeps its
# organisation and kind; unknown organisation, bad kind, missing CA and
# missing options fail with one line on stderr and nothing on stdout.
set -eu

fc=$1
yaml=$2
test_name=cli-issue
. "$(dirname "$0")/../integration/cluster_lib.sh"
out=$tmp/crypto

mode() { stat -c %a "$1"; }
# refused ARGS...: fails, one line on stderr, nothing on stdout
refused() {
	if "$fc" crypto issue "$@" >"$tmp/o" 2>"$tmp/e"; then
		fail "'crypto issue $*' succeeded"
	fi
	one_line "$tmp/e"
	[ ! -s "$tmp/o" ] || fail "'crypto issue $*' wrote to stdout"
}

"$fc" crypto --help | grep -q issue || fail "crypto help lists no issue"
"$fc" crypto issue --help | grep -q -- --kind || fail "issue help lacks --kind"

# No CA yet: a clear error, nothing written.
refused --config "$yaml" --out "$out" --org Org1 --kind compute --id compute-x
grep -q "crypto generate" "$tmp/e" || fail "missing CA message does not say what to run"
[ ! -e "$out/Org1/compute/compute-x" ] || fail "identity written without a CA"

"$fc" crypto generate --config "$yaml" --out "$out" >/dev/null || fail "crypto generate"

# --- issue a compute server and a memory node ------------------------------
"$fc" crypto issue --config "$yaml" --out "$out" --org Org1 --kind compute \
	--id compute-x --host 192.0.2.7 --host node7.example >"$tmp/o" || fail "issue compute-x"
one_line "$tmp/o"
d=$out/Org1/compute/compute-x
[ "$(mode "$d")" = 700 ] || fail "mode of $d"
[ "$(mode "$d/key.pem")" = 600 ] || fail "mode of $d/key.pem"
openssl verify -CAfile "$out/Org1/ca/ca.crt" "$d/cert.pem" >/dev/null ||
	fail "compute-x does not verify against Org1's CA"
if openssl verify -CAfile "$out/Org2/ca/ca.crt" "$d/cert.pem" >/dev/null 2>&1; then
	fail "compute-x verifies against Org2's CA"
fi
subj=$(openssl x509 -in "$d/cert.pem" -noout -subject -nameopt sep_multiline)
echo "$subj" | grep -q "O=Org1" || fail "subject lacks O=Org1: $subj"
echo "$subj" | grep -q "OU=compute" || fail "subject lacks OU=compute: $subj"
echo "$subj" | grep -q "CN=compute-x" || fail "subject lacks CN=compute-x: $subj"
san=$(openssl x509 -in "$d/cert.pem" -noout -ext subjectAltName)
echo "$san" | grep -q "192.0.2.7" || fail "SAN lacks 192.0.2.7: $san"
echo "$san" | grep -q "node7.example" || fail "SAN lacks node7.example: $san"
# The key belongs to the certificate.
[ "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)" = \
	"$(openssl pkey -in "$d/key.pem" -pubout)" ] || fail "key does not match cert"

"$fc" crypto issue --config "$yaml" --out "$out" --org Org2 --kind memory --id memory-x \
	>/dev/null || fail "issue memory-x"
openssl verify -CAfile "$out/Org2/ca/ca.crt" "$out/Org2/memory/memory-x/cert.pem" \
	>/dev/null || fail "memory-x does not verify against Org2's CA"

# --- no overwrite without --force --------------------------------------------
sum=$(cat "$d/cert.pem" "$d/key.pem" | sha256sum)
refused --config "$yaml" --out "$out" --org Org1 --kind compute --id compute-x
grep -q -- --force "$tmp/e" || fail "refusal does not mention --force"
[ "$(cat "$d/cert.pem" "$d/key.pem" | sha256sum)" = "$sum" ] || fail "files changed on refusal"
"$fc" crypto issue --config "$yaml" --out "$out" --org Org1 --kind compute --id compute-x \
	--force >/dev/null || fail "--force"
[ "$(cat "$d/cert.pem" "$d/key.pem" | sha256sum)" != "$sum" ] || fail "--force changed nothing"
openssl verify -CAfile "$out/Org1/ca/ca.crt" "$d/cert.pem" >/dev/null || fail "reissued cert"

# --- ids the configuration names keep their organisation and kind ------------
known=$(sed -n 's/.*[{ ]id: *\(compute[A-Za-z0-9_.-]*\), *org: *Org1.*/\1/p' "$yaml" | head -n 1)
[ -n "$known" ] || fail "no Org1 compute server in $yaml"
refused --config "$yaml" --out "$out" --org Org1 --kind memory --id "$known"
refused --config "$yaml" --out "$out" --org Org2 --kind compute --id "$known"
"$fc" crypto issue --config "$yaml" --out "$out" --org Org1 --kind compute --id "$known" \
	--force >/dev/null || fail "reissue of $known"

# --- bad input ---------------------------------------------------------------
refused --config "$yaml" --out "$out" --org Org9 --kind compute --id c9
refused --config "$yaml" --out "$out" --org Org1 --kind client --id c9
refused --config "$yaml" --out "$out" --org Org1 --kind compute --id ../c9
refused --config "$yaml" --out "$out" --org Org1 --kind compute
refused --config "$yaml" --out "$out" --kind compute --id c9
refused --out "$out" --org Org1 --kind compute --id c9
refused --config "$tmp/missing.yaml" --org Org1 --kind compute --id c9
refused --config "$yaml" --out "$out" --org Org1 --kind compute --id c9 --days 0
refused --config "$yaml" --out "$out" --org Org1 --kind compute --id c9 --bogus
[ ! -e "$out/Org1/compute/c9" ] || fail "identity written on bad input"
echo "crypto issue: ok"
