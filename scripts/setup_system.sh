#!/usr/bin/env bash
# Install the Debian packages listed in $1 that are not installed yet.
set -euo pipefail
list=${1:-scripts/apt-packages.txt}
missing=()
while read -r pkg; do
  pkg=${pkg%%#*}; pkg=${pkg// /}
  [ -z "$pkg" ] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < "$list"
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "error: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
