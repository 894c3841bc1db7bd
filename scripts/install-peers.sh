#!/usr/bin/env bash
# Installs the peer binaries the integration tests and the demo run against:
# Debian's victoria-metrics package (victoria-metrics, vmagent) and prometheus package.
# They are unpacked into .peers/ (never installed system-wide) and exposed as
# .peers/bin/{victoria-metrics,vmagent,prometheus}. Fast no-op when already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS="$ROOT/.peers"
BIN="$PEERS/bin"
PACKAGES=(victoria-metrics prometheus)
# binary name -> path inside the unpacked packages (see `dpkg -c`)
declare -A BINARIES=(
  [victoria-metrics]=usr/bin/victoria-metrics
  [vmagent]=usr/bin/vmagent
  [prometheus]=usr/bin/prometheus
)

die() {
  echo "install-peers: ERROR: $*" >&2
  exit 1
}

# Debian builds print an empty version string, but -version exiting 0 proves the
# binary loads (dynamic libraries present) and runs.
runs() {
  local name="$1" path="$BIN/$1"
  [[ -x "$path" ]] || return 1
  case "$name" in
    prometheus) "$path" --version >/dev/null 2>&1 ;;
    *) "$path" -version >/dev/null 2>&1 ;;
  esac
}

all_run() {
  local name
  for name in "${!BINARIES[@]}"; do
    runs "$name" || return 1
  done
}

if all_run; then
  echo "install-peers: already installed in .peers/bin ($(cat "$PEERS/VERSIONS" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'))"
  exit 0
fi

start=$(date +%s.%N)
command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian machine (packages: ${PACKAGES[*]})"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: this script needs a Debian machine"

mkdir -p "$PEERS"
work="$(mktemp -d "$PEERS/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

apt_opts=()
if [[ $(id -u) -eq 0 ]]; then
  # root: download as root instead of the _apt sandbox user, which cannot write here
  apt_opts+=(-o APT::Sandbox::User=root)
fi

lists_present() {
  compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

apt_update() {
  if [[ $(id -u) -ne 0 ]]; then
    die "the package lists need refreshing ('apt-get update'), which needs root; run 'sudo apt-get update' and then 'npm run peers'"
  fi
  echo "install-peers: running apt-get update" >&2
  apt-get update -qq >"$work/update.log" 2>&1 || {
    cat "$work/update.log" >&2
    die "apt-get update failed; the Debian package mirror must be reachable"
  }
}

download() {
  (cd "$work" && apt-get "${apt_opts[@]}" download "${PACKAGES[@]}") >"$work/download.log" 2>&1
}

lists_present || apt_update
if ! download; then
  apt_update
  download || {
    cat "$work/download.log" >&2
    die "apt-get download ${PACKAGES[*]} failed (see above); these are Debian packages (bookworm has victoria-metrics 1.79.5 and prometheus 2.42)"
  }
fi

versions=()
mkdir -p "$work/root"
for pkg in "${PACKAGES[@]}"; do
  deb=$(compgen -G "$work/${pkg}_*.deb" | head -n1) || die "apt-get download produced no .deb for $pkg"
  dpkg-deb -x "$deb" "$work/root" || die "cannot unpack $deb"
  versions+=("$pkg $(dpkg-deb -f "$deb" Version)")
done

for name in "${!BINARIES[@]}"; do
  [[ -x "$work/root/${BINARIES[$name]}" ]] || die "package did not contain ${BINARIES[$name]} (for $name); has the Debian packaging changed? check with dpkg -c"
done

# Replace the unpacked tree and links in one go.
rm -rf "$PEERS/root" "$BIN"
mv "$work/root" "$PEERS/root"
mkdir -p "$BIN"
for name in "${!BINARIES[@]}"; do
  ln -sfn "../root/${BINARIES[$name]}" "$BIN/$name"
done
printf '%s\n' "${versions[@]}" >"$PEERS/VERSIONS"

# The Go binaries are dynamically linked (libc, and libzstd for victoria-metrics/vmagent).
missing=$(for name in "${!BINARIES[@]}"; do ldd "$BIN/$name" 2>/dev/null | awk '/not found/ {print $1}'; done | sort -u | tr '\n' ' ')
if [[ -n "$missing" ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "install-peers: installing missing shared libraries: $missing" >&2
    # map sonames to Debian packages we know the peers need
    pkgs=()
    [[ "$missing" == *libzstd* ]] && pkgs+=(libzstd1)
    [[ ${#pkgs[@]} -gt 0 ]] || die "peer binaries need unknown libraries: $missing"
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$work/libs.log" 2>&1 || {
      cat "$work/libs.log" >&2
      die "cannot install ${pkgs[*]}"
    }
  else
    die "peer binaries need shared libraries that are missing: $missing (install them, e.g. 'sudo apt-get install libzstd1')"
  fi
fi

for name in "${!BINARIES[@]}"; do
  runs "$name" || die ".peers/bin/$name does not run; try: $BIN/$name -version"
done

elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
echo "install-peers: installed ${versions[*]} into .peers/ in ${elapsed}s; binaries in .peers/bin: ${!BINARIES[*]}"
