#!/usr/bin/env bash
# Install the Debian packages the lab and the tests need on the control machine.
# Idempotent: skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  # lab: rootful podman with runc (crun refuses this host's hybrid cgroups, lab-notes)
  podman runc debootstrap uidmap slirp4netns nftables
  # control node: Debian's python for the venv, ssh for Ansible
  python3-venv python3-dev openssh-client rsync
  # real services for the bots' unit tests, promtool for rule tests
  redis-server redis-tools postgresql postgresql-client prometheus
  make git curl jq
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap-host: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi
echo "bootstrap-host: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# No host systemd here: keep package postinsts from trying to start services.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap-host: done"
