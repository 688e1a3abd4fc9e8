#!/usr/bin/env bash
# Install the given Debian packages that are not installed yet, without prompts, without
# recommended extras, and without letting their maintainer scripts start any service (Debian's
# prometheus package would otherwise start a server on 0.0.0.0:9090, postgresql one on 5432).
#
# Usage: scripts/apt-install.sh PACKAGE...
# Runs apt through sudo when not root. Runs `apt-get update` only when a package has no
# install candidate yet or the first install attempt fails (stale package lists).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

missing=()
for pkg in "$@"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo env DEBIAN_FRONTEND=noninteractive)
else
  echo "apt-install: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
as_root() {
  "${sudo[@]}" "$@"
}

needs_update() {
  local pkg
  for pkg in "${missing[@]}"; do
    if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      return 0
    fi
  done
  return 1
}

apt_install() {
  as_root apt-get -q -y -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold install --no-install-recommends "${missing[@]}"
}

# policy-rc.d exit code 101 = "action forbidden": postinst scripts then start no service.
policy=/usr/sbin/policy-rc.d
saved="$policy.opsdash-saved"
restore_policy() {
  as_root rm -f "$policy"
  if [ -e "$saved" ]; then
    as_root mv "$saved" "$policy"
  fi
}
if [ -e "$policy" ] && [ ! -e "$saved" ]; then
  as_root mv "$policy" "$saved"
fi
trap restore_policy EXIT
printf '#!/bin/sh\n# Temporary, from opsdash setup: start no service while installing.\nexit 101\n' \
  | as_root tee "$policy" >/dev/null
as_root chmod 0755 "$policy"

echo "apt-install: installing ${missing[*]}"
updated=no
if needs_update; then
  as_root apt-get -q -o DPkg::Lock::Timeout=300 update
  updated=yes
fi
if ! apt_install; then
  if [ "$updated" = yes ]; then
    exit 1
  fi
  as_root apt-get -q -o DPkg::Lock::Timeout=300 update
  apt_install
fi

# Where systemd runs, the package enabled its units for the next boot (and may have started
# them despite the policy on some setups); the stack starts its own Prometheus on loopback.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  for unit in prometheus prometheus-node-exporter; do
    as_root systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
# Likewise Debian's PostgreSQL cluster: the tests start their own, on loopback.
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ -d /run/systemd/system ]; then
  as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
fi
# Likewise Debian's Alertmanager: the alert webhook tests start their own, on loopback.
if [[ " ${missing[*]} " == *" prometheus-alertmanager "* ]] && [ -d /run/systemd/system ]; then
  as_root systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
fi
