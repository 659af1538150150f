#!/usr/bin/env bash
# Installs what the build, the tests and the demo need and the machine
# lacks: Debian packages with apt, the SDKs of the tests with npm from
# the committed lock file.  Does nothing when all is there.

set -euo pipefail

cd "$(dirname "$0")/.."

pkgs="nginx nginx-dev libcurl4-openssl-dev libyajl-dev zlib1g-dev gcc make
      perl nodejs npm chromium"
missing=""

for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $p"
    fi
done

# node and npm may come from elsewhere than Debian's packages
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=$(echo "$missing" | sed -e 's/ nodejs//; s/ npm//')
fi

if [ -n "${missing// /}" ]; then
    echo "deps: installing$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi

# Debian's nginx package starts a server on port 80 when installed;
# the tests and the demo run their own.

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
    echo "deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi
