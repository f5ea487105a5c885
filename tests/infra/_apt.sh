# shellcheck shell=bash
# Sourced by the bed scripts: install the Debian packages a bed needs when they are missing (CI starts from a
# clean machine whose apt mirror has them). The caller defines log and die.

apt_install_missing() { # apt_install_missing PKG...
  local pkg missing=()
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2 ||
      die "apt-get install ${missing[*]} failed"
  fi
}
