# Sourced by test.sh: the Debian packages the tests start as real services (PostgreSQL, Redis) and the
# browser the UI tests drive (Chromium; browser downloads do not work here).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "Install the Debian packages ${missing[*]} (apt-get install ${missing[*]}), then run again." >&2
        exit 1
    fi
    echo "Installing ${missing[*]} ..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
