#!/usr/bin/env bash
# Builds nginx from Debian's source package with the module compiled in
# (--add-module), into build/static/nginx.  The same config script serves
# --add-dynamic-module; this checks the static side of it.

set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/build/static
mkdir -p "$dir"

if [ ! -d "$dir/src" ]; then
    if ! apt-get source --print-uris nginx >/dev/null 2>&1 \
         || [ -z "$(apt-get source --print-uris nginx 2>/dev/null \
                    | grep orig.tar)" ]
    then
        echo "static: adding Debian's deb-src entries to fetch nginx's source"
        cat > /etc/apt/sources.list.d/capture-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt-get update -qq
    fi

    (cd "$dir" && apt-get source -qq --download-only nginx 2>/dev/null)
    mkdir -p "$dir/src"
    tar -xzf "$dir"/nginx_*.orig.tar.gz -C "$dir/src" --strip-components=1
fi

cd "$dir/src"

if [ ! -f objs/Makefile ] || [ "$root/config" -nt objs/Makefile ]; then
    ./configure --prefix="$dir" --with-http_realip_module \
        --with-http_ssl_module --add-module="$root" > "$dir/configure.log" \
        2>&1 || { cat "$dir/configure.log"; exit 1; }
fi

make -s -j"$(nproc)" > "$dir/make.log" 2>&1 || { cat "$dir/make.log"; exit 1; }
cp objs/nginx "$dir/nginx"

"$dir/nginx" -v
