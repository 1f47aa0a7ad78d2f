# Sourced by the lab scripts: point podman at this project's containers.conf.
_qs_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$_qs_root/.lab"
if [ ! -f "$_qs_root/.lab/containers.conf" ]; then
  sed "s/@NOFILE@/$(ulimit -Hn)/g" "$_qs_root/scripts/containers.conf.in" > "$_qs_root/.lab/containers.conf"
fi
export CONTAINERS_CONF="$_qs_root/.lab/containers.conf"
