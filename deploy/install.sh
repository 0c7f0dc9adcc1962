#!/usr/bin/env bash
# Installs flexchain on a systemd host: binaries, unit files, a cluster
# configuration (never overwriting one that is there) and the flexchain
# system account. Idempotent: running it again changes only what differs.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: deploy/install.sh [--build DIR] [--config FILE] [--root DIR]
                         [--enable] [--dry-run] [-h|--help]

Installs flexchain on this host:
  binaries  DIR/**/flexchain{,-orderer,-storage,-memory,-compute,-bench}
            -> /usr/local/bin (those not built are skipped with a warning)
  units     deploy/systemd/*.service, flexchain.target -> /etc/systemd/system
  config    /etc/flexchain/cluster.yaml, only when none exists: FILE, or the
            default local cluster with its data under /var/lib/flexchain
  account   the system user and group `flexchain` (state: /var/lib/flexchain)
  docs      README.md -> /usr/local/share/doc/flexchain
  with --enable (a host that runs the nodes of the configuration):
  crypto    flexchain crypto generate when the configuration's crypto_dir
            holds no material yet; node identities readable by the
            account, the organisations' CA keys by root only
  units     systemctl enable flexchain-<pool>@<id> for every node of the
            configuration whose host is this host (127.0.0.1, localhost,
            its name or one of its addresses), so that
            `systemctl start flexchain.target` starts them all

Options:
  -b, --build DIR    the build directory (default: build)
  -c, --config FILE  the cluster configuration to install if none exists
  -r, --root DIR     install under DIR instead of / (staging or test trees;
      --prefix DIR   the same): no account is created, systemd is not reloaded
  -e, --enable       crypto material and enabled units, as above (not with --root)
  -n, --dry-run      print every action, change nothing
  -h, --help         show this help

Exit status: 0 done, 1 failure, 2 bad usage.
EOF
}

src=$(cd "$(dirname "$0")/.." && pwd)
build=build
config=""
root=/
dry=0
enable=0
while [[ $# -gt 0 ]]; do
	case $1 in
	-b | --build) build=${2:?--build needs a value}; shift 2 ;;
	-c | --config) config=${2:?--config needs a value}; shift 2 ;;
	-r | --root | --prefix) root=${2:?$1 needs a value}; shift 2 ;;
	-n | --dry-run) dry=1; shift ;;
	-e | --enable) enable=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
[[ $build = /* ]] || build=$PWD/$build
[[ -z $config || $config = /* ]] || config=$PWD/$config
root=${root%/}
if [[ ! -d $build ]]; then
	echo "install.sh: build directory '$build' does not exist (build first, see README)" >&2
	exit 1
fi
if [[ -n $config && ! -f $config ]]; then
	echo "install.sh: configuration '$config' does not exist" >&2
	exit 1
fi
if [[ $enable = 1 && -n $root ]]; then
	echo "install.sh: --enable acts on this host's systemd; not with --root" >&2
	exit 2
fi
if [[ $dry = 0 && -z $root && $(id -u) -ne 0 ]]; then
	echo "install.sh: installing into / needs root (or use --root DIR / --dry-run)" >&2
	exit 1
fi

say() { printf 'install: %s\n' "$*"; }
# run CMD...: runs it, or only prints it under --dry-run.
run() {
	if [[ $dry = 1 ]]; then
		printf 'would run: %s\n' "$*"
	else
		"$@"
	fi
}
# put MODE SRC DST: installs SRC as DST unless DST already has that content.
put() {
	if [[ -f $2 && -f $3 ]] && cmp -s "$2" "$3"; then
		say "unchanged $3"
		return
	fi
	run install -D -m "$1" "$2" "$3"
	[[ $dry = 1 ]] || say "installed $3"
}

bindir=$root/usr/local/bin
unitdir=$root/etc/systemd/system
etcdir=$root/etc/flexchain
docdir=$root/usr/local/share/doc/flexchain
statedir=$root/var/lib/flexchain

# 1. binaries
found=0
# one walk of the build tree (it may be large, or on a slow mount)
built=$(find "$build" -maxdepth 3 -type f -perm -u+x \( -name flexchain -o -name 'flexchain-*' \) \
	2>/dev/null | sort)
for b in flexchain flexchain-orderer flexchain-storage flexchain-memory flexchain-compute \
	flexchain-bench; do
	f=$(grep -m 1 "/$b\$" <<<"$built" || true)
	if [[ -z $f ]]; then
		echo "install: warning: $b is not built in $build; skipped" >&2
		continue
	fi
	put 0755 "$f" "$bindir/$b"
	found=$((found + 1))
done
if [[ $found = 0 ]]; then
	echo "install.sh: no flexchain binary found under $build" >&2
	exit 1
fi

# 2. units
for u in "$src"/deploy/systemd/*.service "$src"/deploy/systemd/*.target; do
	put 0644 "$u" "$unitdir/$(basename "$u")"
done

# 3. documentation (the units' Documentation=)
put 0644 "$src/README.md" "$docdir/README.md"

# 4. configuration: an existing one is the operator's, never replaced
if [[ -e $etcdir/cluster.yaml ]]; then
	say "kept existing $etcdir/cluster.yaml"
else
	run install -d -m 0755 "$etcdir"
	if [[ -n $config ]]; then
		run install -m 0644 "$config" "$etcdir/cluster.yaml"
	elif [[ $dry = 1 ]]; then
		say "would write $etcdir/cluster.yaml from deploy/local/cluster.yaml" \
			"(data under /var/lib/flexchain)"
	else
		# The services may write only /var/lib/flexchain (and their /tmp is
		# private), so the default cluster's data moves there.
		sed -e 's|/tmp/flexchain-local/|/var/lib/flexchain/|g' \
			"$src/deploy/local/cluster.yaml" >"$etcdir/cluster.yaml"
		chmod 0644 "$etcdir/cluster.yaml"
	fi
	[[ $dry = 1 ]] || say "installed $etcdir/cluster.yaml"
fi

# 5. account and state directory
if [[ -n $root ]]; then
	say "--root $root: no account created, $statedir left to systemd (StateDirectory=)"
elif getent passwd flexchain >/dev/null; then
	say "account flexchain exists"
else
	run useradd --system --user-group --home-dir /var/lib/flexchain --no-create-home \
		--shell /usr/sbin/nologin --comment "flexchain daemons" flexchain
	[[ $dry = 1 ]] || say "created account flexchain"
fi
if [[ -z $root ]]; then
	if [[ -d $statedir ]]; then
		say "state directory $statedir exists"
	else
		run install -d -m 0750 -o flexchain -g flexchain "$statedir"
	fi
fi

# 6. systemd
if [[ -z $root && -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
	run systemctl daemon-reload
fi

# 7. --enable: identities and the units of this host's nodes
if [[ $enable = 1 ]]; then
	cfg=$etcdir/cluster.yaml
	command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null ||
		{ echo "install.sh: --enable needs python3 with PyYAML (package python3-yaml)" >&2; exit 1; }
	mine=" 127.0.0.1 ::1 localhost $(hostname 2>/dev/null) $(hostname -f 2>/dev/null) $(hostname -I 2>/dev/null) "
	# "crypto DIR", then "KIND ID HOST" per node of the configuration
	# (under --dry-run the configuration may not be installed yet)
	nodes=$(python3 - "$cfg" "${config:-$src/deploy/local/cluster.yaml}" <<'PY'
import os, sys, yaml
installed, fallback = sys.argv[1], sys.argv[2]
c = yaml.safe_load(open(installed if os.path.exists(installed) else fallback))
d = c.get("crypto_dir") or "./crypto"
print("crypto", os.path.normpath(os.path.join(os.path.dirname(installed), d)))
for kind, nodes in (("orderer", c.get("orderers")), ("storage", (c.get("storage") or {}).get("replicas")),
                    ("memory", (c.get("memory") or {}).get("nodes")), ("compute", c.get("compute"))):
    for n in nodes or []:
        print(kind, n["id"], n.get("host", "127.0.0.1"))
PY
	) || { echo "install.sh: cannot read $cfg" >&2; exit 1; }
	crypto=$(awk '$1 == "crypto" {print $2}' <<<"$nodes")
	if [[ -d $crypto && -n $(ls -A "$crypto" 2>/dev/null) ]]; then
		say "kept existing crypto material in $crypto"
	else
		if [[ $dry = 1 ]]; then
			echo "would run: $bindir/flexchain crypto generate --config $cfg --out $crypto"
		else
			"$bindir/flexchain" crypto generate --config "$cfg" --out "$crypto" >/dev/null
			say "generated crypto material in $crypto"
		fi
	fi
	# The daemons (User=flexchain) read their own identity and every CA
	# certificate; the CA keys, which only `flexchain crypto` needs, stay root's.
	run chown -R flexchain:flexchain "$crypto"
	if [[ $dry = 1 ]]; then
		echo "would run: chown root:root $crypto/*/ca/ca.key"
	else
		for k in "$crypto"/*/ca/ca.key; do [[ -e $k ]] && chown root:root "$k"; done
	fi
	units=()
	while read -r kind id host; do
		[[ $kind = crypto ]] && continue
		[[ $mine == *" $host "* ]] || { say "not this host's: $kind $id ($host)"; continue; }
		units+=("flexchain-$kind@$id.service")
	done <<<"$nodes"
	if [[ ${#units[@]} = 0 ]]; then
		say "no node of $cfg runs on this host; nothing enabled"
	else
		run systemctl enable --quiet "${units[@]}"
		[[ $dry = 1 ]] || say "enabled ${units[*]}"
	fi
fi

if [[ $enable = 1 ]]; then
	cat <<EOF
install: done$([[ $dry = 1 ]] && echo " (dry run: nothing changed)")
next step: systemctl start flexchain.target   (then: flexchain cluster status --config $etcdir/cluster.yaml)
EOF
	exit 0
fi
cat <<EOF
install: done$([[ $dry = 1 ]] && echo " (dry run: nothing changed)")
next steps (see "Deploying on a cluster" in $docdir/README.md):
  edit /etc/flexchain/cluster.yaml (hosts, ports, data_dir under /var/lib/flexchain)
  flexchain crypto generate --config /etc/flexchain/cluster.yaml
  chown -R flexchain:flexchain /etc/flexchain/crypto
  systemctl enable --now flexchain-orderer@orderer0 ...   (one per node on this host)
EOF
