#!/usr/bin/env bash
# The "init" of a real node of a local cluster (scripts/cluster up NAME --real-nodes N; see docs/cluster.md).
#
# scripts/cluster starts it as `unshare --net --mount --propagation private -- bash init.sh NODEDIR`, so it runs
# in the node's own network and mount namespaces, the way a kind node runs in its container. It
#   1. gives the node its own view of the file system: /etc, /opt, /home, /usr and /var become overlays whose
#      writes land in NODEDIR/root (the host's directories are never written), /run is NODEDIR/run, and the
#      node's CNI directories from NODEDIR/cni are bind-mounted at /etc/cni/net.d, /opt/cni/bin,
#      /home/kubernetes/bin (GKE's path; same directory as /opt/cni/bin) and /var/lib/cni;
#   2. shows the kubelet the kernel tunables it wants (read-only files bind-mounted over /proc/sys/...), so it
#      never changes the host kernel's settings;
#   3. waits for eth0 (the veth that scripts/cluster moves in), addresses it, routes the host side and the
#      service range to it, and drops anything else leaving through it;
#   4. runs containerd, the kubelet and kube-proxy, restarting any that exits.
# Nothing here touches the host's network, iptables, /etc/cni, /opt/cni, /var/lib/cni or /run/netns.
set -euo pipefail
nodedir="$1"
# shellcheck disable=SC1091
. "$nodedir/node.env"
log() { echo "node-init $NODE_NAME: $*"; }
# SIGTERM (scripts/cluster stopping a node it failed to bring up) ends the daemons too: they are in this
# process group (scripts/cluster starts the init with setsid). `down` does not rely on it: it kills by command
# line and by cgroup.
trap 'trap - TERM INT; kill -KILL 0' TERM INT

# 1. File system. Private propagation (unshare) keeps every mount below inside this namespace.
for d in etc opt home usr var; do
  mkdir -p "$nodedir/root/$d/upper" "$nodedir/root/$d/work"
  mount -t overlay "node-$d" -o "lowerdir=/$d,upperdir=$nodedir/root/$d/upper,workdir=$nodedir/root/$d/work" "/$d"
done
mount --bind "$nodedir/run" /run
mkdir -p /run/netns /etc/cni/net.d /opt/cni/bin /home/kubernetes/bin /var/lib/cni
mount --bind "$nodedir/cni/net.d" /etc/cni/net.d
mount --bind "$nodedir/cni/bin" /opt/cni/bin
mount --bind "$nodedir/cni/bin" /home/kubernetes/bin
mount --bind "$nodedir/cni/lib" /var/lib/cni
# Shared within the node, as on a real host (kind does the same): mounts made later, e.g. pods' network
# namespaces under /run/netns, propagate into containers that mount them with HostToContainer. These peer
# groups are new ones of this namespace; nothing propagates to or from the host.
mount --make-rshared /

# 2. The kubelet sets these on start unless they already have these values (container_manager_linux.go).
mkdir -p "$nodedir/sysctl"
while read -r key value; do
  f="$nodedir/sysctl/${key//\//_}"
  echo "$value" >"$f"
  mount --bind -o ro "$f" "/proc/sys/$key"
done <<'EOF'
vm/overcommit_memory 1
vm/panic_on_oom 0
kernel/panic 10
kernel/panic_on_oops 1
kernel/keys/root_maxkeys 1000000
kernel/keys/root_maxbytes 25000000
EOF

# 3. Network (all of it inside this namespace).
for _ in $(seq 200); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.05; done
ip link show eth0 >/dev/null 2>&1 || { log "eth0 did not appear"; exit 1; }
ip link set lo up
ip addr add "$NODE_IP/32" peer "$HOST_IP/32" dev eth0
ip link set eth0 up
ip route add "$SERVICE_CIDR" via "$HOST_IP" dev eth0 src "$NODE_IP"
sysctl -qw net.ipv4.ip_forward=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1 || true
# Only the host side of the veth is ever a destination; a Service without endpoints or a stray address is
# dropped here instead of being handed to the host.
iptables -w -N MIZZEN-NODE-EGRESS
iptables -w -A MIZZEN-NODE-EGRESS -d "$HOST_IP/32" -j RETURN
iptables -w -A MIZZEN-NODE-EGRESS -j DROP
iptables -w -I OUTPUT -o eth0 -j MIZZEN-NODE-EGRESS
iptables -w -I FORWARD -o eth0 -j MIZZEN-NODE-EGRESS
log "network ready: $NODE_IP <-> $HOST_IP"

# 4. The daemons.
export PATH="$NODEBIN_DIR:$PATH:/usr/sbin:/sbin"
supervise() { # NAME COMMAND...
  local name="$1"
  shift
  while :; do
    echo "=== $(date -u +%FT%TZ) starting $name" >>"$LOG_DIR/$NODE_NAME-$name.log"
    "$@" </dev/null >>"$LOG_DIR/$NODE_NAME-$name.log" 2>&1 || true
    echo "=== $(date -u +%FT%TZ) $name exited" >>"$LOG_DIR/$NODE_NAME-$name.log"
    sleep 1
  done
}
supervise containerd containerd --config "$nodedir/containerd.toml" &
for _ in $(seq 300); do [ -S "$nodedir/containerd.sock" ] && break; sleep 0.1; done
supervise kubelet "$K8S_BIN_DIR/kubelet" --config="$nodedir/kubelet.yaml" --kubeconfig="$nodedir/kubelet.kubeconfig" \
  --root-dir="$nodedir/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1 &
supervise kube-proxy "$K8S_BIN_DIR/kube-proxy" --config="$nodedir/kube-proxy.yaml" --v=1 &
log "containerd, kubelet and kube-proxy started"
wait
