#!/usr/bin/env bash
# Builds what an end user downloads, into OUT (default dist/):
#   ferry-agent_VERSION_amd64.deb, ferry-agent_VERSION_arm64.deb
#   ferry-agent-VERSION-linux-amd64.tar.gz, ...-linux-arm64.tar.gz (with install.sh)
#   ferry-agent-VERSION-windows-amd64.msi (signed), and SHA256SUMS.
# Environment: VERSION, COMMIT, DATE (stamped into the binaries); OUT;
# ARCHES (default "amd64 arm64"; set and empty: no Linux packages); NO_MSI=1
# to skip the Windows installer;
# SIGN_CERT and SIGN_KEY (PEM) to sign with a real certificate, otherwise
# a test certificate is made at build time (kept in OUT/signing/);
# RELEASE_ROOTS, the release root public keys the agent trusts
# (installer/release.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. installer/authenticode.sh
GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo none)}
DATE=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
OUT=${OUT:-$root/dist}
ARCHES=${ARCHES-amd64 arm64}
ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE"
if [ -n "${RELEASE_ROOTS:-}" ]; then
	ldflags="$ldflags -X github.com/ferry-sync/ferry/shared/release.roots=$RELEASE_ROOTS"
fi

installer/deps.sh
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/ferry-agent*.deb "$OUT"/ferry-agent*.tar.gz "$OUT"/ferry-agent*.msi "$OUT/SHA256SUMS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Debian versions start with a digit; a bare commit becomes 0.0.0+git.HASH.
debver=${VERSION#v}
case "$debver" in
[0-9]*.[0-9]*) ;;
*) debver="0.0.0+git.$debver" ;;
esac
debver=$(printf '%s' "$debver" | tr -c 'A-Za-z0-9.+~\n' '.')
# MSI versions are numbers only: major.minor.build.
msiver=$(printf '%s' "${VERSION#v}" | grep -oE '^[0-9]+(\.[0-9]+){0,2}' || true)
msiver=${msiver:-0.0.0}

build() { # GOOS GOARCH OUTPUT
	CGO_ENABLED=0 GOOS=$1 GOARCH=$2 "$GO" build -trimpath -ldflags "$ldflags" -o "$3" ./agent/cmd/ferry-agent
}

for arch in $ARCHES; do
	bin="$work/linux-$arch/ferry-agent"
	build linux "$arch" "$bin"

	# .deb: the binary, and maintainer scripts that register the service.
	pkg="$work/deb-$arch"
	install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/doc/ferry-agent"
	install -m 0755 "$bin" "$pkg/usr/bin/ferry-agent"
	sed -e "s/@VERSION@/$debver/" -e "s/@ARCH@/$arch/" installer/debian/control.in >"$pkg/DEBIAN/control"
	for s in postinst prerm postrm; do install -m 0755 "installer/debian/$s" "$pkg/DEBIAN/$s"; done
	printf 'Ferry connector agent %s (commit %s, built %s)\n' "$VERSION" "$COMMIT" "$DATE" >"$pkg/usr/share/doc/ferry-agent/README"
	dpkg-deb --root-owner-group -Zxz --build "$pkg" "$OUT/ferry-agent_${debver}_$arch.deb" >/dev/null

	# .tar.gz: the binary and install.sh, for Linux systems without dpkg.
	tdir="$work/tar-$arch/ferry-agent-$VERSION-linux-$arch"
	install -d "$tdir"
	install -m 0755 "$bin" "$tdir/ferry-agent"
	install -m 0755 installer/linux/install.sh "$tdir/install.sh"
	tar -C "$work/tar-$arch" --owner=0 --group=0 -czf "$OUT/ferry-agent-$VERSION-linux-$arch.tar.gz" "ferry-agent-$VERSION-linux-$arch"
done

if [ -z "${NO_MSI:-}" ]; then
	# Signing: a real certificate when given, else a test one made now.
	authenticode_setup "$OUT"
	win="$work/windows"
	install -d "$win"
	build windows amd64 "$win/unsigned.exe"
	authenticode_sign "$win/unsigned.exe" "$win/ferry-agent.exe"
	# wixl finds File sources relative to the .wxs it reads.
	cp installer/windows/ferry-agent.wxs "$win/"
	(cd "$win" && wixl -a x64 -D "Version=$msiver" -o unsigned.msi ferry-agent.wxs 2>wixl.log) ||
		{ cat "$win/wixl.log" >&2; exit 1; }
	authenticode_sign "$win/unsigned.msi" "$OUT/ferry-agent-$VERSION-windows-amd64.msi"
fi

shopt -s nullglob
cd "$OUT"
built=(*.deb *.tar.gz *.msi)
sha256sum -- "${built[@]}" >SHA256SUMS
echo "installers in $OUT:"
ls -1 -- "${built[@]}" SHA256SUMS
