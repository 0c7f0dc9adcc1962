#!/usr/bin/env bash
# Installs every build and test dependency of flexchain from Debian 12
# packages, by name. Idempotent and quiet; run as root.
#   deploy/install-deps.sh          build + test dependencies
#   deploy/install-deps.sh --vm     also what the soft-RoCE VM tests need
set -euo pipefail

packages=(
  # toolchain: a fresh Debian 12 has none of these
  build-essential cmake pkg-config git ca-certificates
  # protocol: protobuf-c runtime and the protoc-c generator
  libprotobuf-c-dev protobuf-c-compiler
  # crypto: ECDSA P-256, SHA-256, X.509
  libssl-dev openssl
  # event loop for the control plane and the raft transport
  libuv1-dev
  # orderer consensus
  libraft-dev
  # storage pool
  librocksdb-dev
  # data plane: verbs and connection manager (the rdma transport)
  libibverbs-dev librdmacm-dev ibverbs-providers rdma-core
  # configuration, metrics endpoint, systemd readiness
  libcyaml-dev libmicrohttpd-dev libsystemd-dev
  # tests and tools around them
  libcmocka-dev valgrind procps iproute2 python3
  # flexchain-bench --plot
  gnuplot-nox
  python3-yaml curl systemd
)
vm_packages=(
  # soft-RoCE tests run the distribution kernel in a TCG VM
  qemu-system-x86 linux-image-amd64 busybox-static kmod perftest rdmacm-utils ibverbs-utils
)

if [[ ${1:-} == --vm ]]; then
  packages+=("${vm_packages[@]}")
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: run as root (apt-get install needs it)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
