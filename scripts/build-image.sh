#!/usr/bin/env bash
# Build the Debian 12 systemd image the lab and Molecule boot (no registry is
# reachable here: debootstrap + podman import). Skips when the image exists.
set -euo pipefail
IMAGE=${LAB_IMAGE:-localhost/quantshift-debian:bookworm}
source "$(dirname "$0")/podman-env.sh"

if podman image exists "$IMAGE"; then
  echo "build-image: $IMAGE present"
  exit 0
fi
ROOTFS=$(mktemp -d /var/tmp/quantshift-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "build-image: debootstrap bookworm into $ROOTFS (~1 min)"
# openssh-server: Ansible connects over SSH with pipelining like production;
# python3-apt: the apt module would otherwise install it on first use.
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,python3,python3-apt,dbus,iproute2,ca-certificates,openssh-server,procps \
  bookworm "$ROOTFS" >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log"; echo "build-image: debootstrap failed (log: $ROOTFS.log)" >&2; exit 1; }
rm -f "$ROOTFS.log"
cp /etc/apt/sources.list.d/*.sources "$ROOTFS/etc/apt/sources.list.d/" 2>/dev/null || true
# Every container must get its own machine-id at boot.
: > "$ROOTFS/etc/machine-id"
ln -sf /etc/machine-id "$ROOTFS/var/lib/dbus/machine-id"
# Host keys are generated per container at first boot, not baked into the image.
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
mkdir -p "$ROOTFS/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' > "$ROOTFS/etc/systemd/system/ssh.service.d/hostkeys.conf"
# Trust what the host trusts (extra CAs), so apt over HTTPS works inside.
cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 || true
tar -C "$ROOTFS" -c . | podman import --quiet \
  --change 'CMD ["/lib/systemd/systemd"]' --change STOPSIGNAL=SIGRTMIN+3 - "$IMAGE" >/dev/null
echo "build-image: $IMAGE built"
