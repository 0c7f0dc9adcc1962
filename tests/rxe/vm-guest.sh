#!/bin/sh
# Runs inside the soft-RoCE VM, chrooted into the host's filesystem (see
# run-vm.sh). Brings up rxe on a dummy netdev (rdma_cm to 127.0.0.1 fails
# with rxe on lo) and runs the command given as $1.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cmd=$1
ip link set lo up
ip link add fc0 type dummy && ip addr add 192.0.2.1/24 dev fc0 && ip link set fc0 up ||
	{ echo "FC_RXE_RESULT rc=1 (dummy netdev)"; exit 0; }
if ! rdma link add rxe0 type rxe netdev fc0; then
	echo "FC_RXE_RESULT rc=1 (rdma link add failed)"
	exit 0
fi
dev=$(rdma link show 2>/dev/null | grep -m1 'rxe0')
[ -n "$dev" ] && echo "FC_RXE_DEVICE $dev"
echo "rxe: running $cmd"
cd /
FC_TRANSPORT_BACKEND=rdma FC_TRANSPORT_HOST=192.0.2.1 $cmd
rc=$?
echo "FC_RXE_RESULT rc=$rc"
