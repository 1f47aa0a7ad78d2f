#!/usr/bin/env bash
# The lab: three Debian 12 systemd containers (ct100 primary, ct101 standby,
# monitor = database + monitoring) on one podman network with fixed addresses,
# reached over SSH like production. Host definitions live in inventories/lab.
#   lab.sh create   image + network + containers (reuses what exists)
#   lab.sh destroy  remove containers and network (the image is kept)
#   lab.sh deploy   ansible-playbook site.yml -i inventories/lab
#                   QUANTSHIFT_MODE=paper: the recorded fake venues on the monitor
#                   host first, then both bots in paper mode against them
#   lab.sh status   what runs where
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/scripts/podman-env.sh"
IMAGE=${LAB_IMAGE:-localhost/quantshift-debian:bookworm}
NETWORK=quantshift-lab
SUBNET=172.29.100.0/24
SSH_KEY="$ROOT/.lab/ssh/id_ed25519"

lab_status() { "$ROOT/.venv/bin/python" "$ROOT/scripts/lab_status.py" "$@"; }
# name → address, from the lab inventory (the one host definition).
declare -A HOSTS=()
load_hosts() {
  local name address
  while read -r name address; do HOSTS[$name]=$address; done < <(lab_status hosts)
  [ ${#HOSTS[@]} -gt 0 ] || { log "ERROR: no hosts in inventories/lab/hosts.yml" >&2; exit 1; }
}

log() { printf 'lab: %s\n' "$*"; }

create() {
  "$ROOT/scripts/build-image.sh"
  load_hosts
  if [ ! -f "$SSH_KEY" ]; then
    mkdir -p "$(dirname "$SSH_KEY")"
    ssh-keygen -q -t ed25519 -N '' -C quantshift-lab -f "$SSH_KEY"
  fi
  "$ROOT/.venv/bin/python" "$ROOT/scripts/lab_secrets.py" ensure
  podman network exists "$NETWORK" || podman network create --subnet "$SUBNET" "$NETWORK" >/dev/null
  for name in "${!HOSTS[@]}"; do
    if ! podman container exists "$name"; then
      log "starting $name (${HOSTS[$name]})"
      # --env container=lxc: facts report lxc, like the Proxmox CTs.
      podman run -d --name "$name" --hostname "$name" \
        --network "$NETWORK" --ip "${HOSTS[$name]}" \
        --systemd always --env container=lxc \
        --label io.quantshift.lab=1 \
        "$IMAGE" /lib/systemd/systemd >/dev/null
    elif [ "$(podman inspect -f '{{.State.Running}}' "$name")" != true ]; then
      log "restarting $name"
      podman start "$name" >/dev/null
    fi
    podman exec -i "$name" sh -c 'umask 077; mkdir -p /root/.ssh; cat > /root/.ssh/authorized_keys' < "$SSH_KEY.pub"
  done
  lab_status wait-ssh 30
  log "containers up: $(printf '%s ' "${!HOSTS[@]}")"
}

destroy() {
  # Every container the lab made carries its label (no inventory needed to clean up).
  local containers
  containers=$(podman ps -a -q --filter label=io.quantshift.lab=1)
  # --time 5 with retries: the stock destroy lost a race ~1 in 8 runs (lab-notes).
  for _ in 1 2 3; do
    [ -z "$containers" ] && break
    podman rm --force --ignore --time 5 $containers >/dev/null 2>&1 && break
    sleep 1
  done
  podman network rm --force "$NETWORK" >/dev/null 2>&1 || true
  log "destroyed"
}

deploy() {
  cd "$ROOT"
  local mode=${QUANTSHIFT_MODE:-sim}
  case "$mode" in
    sim) "$ROOT/.venv/bin/ansible-playbook" -i inventories/lab/hosts.yml site.yml "$@" ;;
    paper)
      local vars
      vars=$(lab_status paper-vars)
      "$ROOT/.venv/bin/ansible-playbook" -i inventories/lab/hosts.yml playbooks/lab-fake-venues.yml -e "$vars"
      "$ROOT/.venv/bin/ansible-playbook" -i inventories/lab/hosts.yml site.yml -e "$vars" "$@" ;;
    *) log "ERROR: QUANTSHIFT_MODE must be sim or paper, got '$mode'" >&2; exit 2 ;;
  esac
}

status() {
  lab_status
}

case "${1:-}" in
  create) create ;;
  destroy) destroy ;;
  deploy) shift; deploy "$@" ;;
  status) status ;;
  *) echo "usage: $0 create|destroy|deploy|status" >&2; exit 2 ;;
esac
