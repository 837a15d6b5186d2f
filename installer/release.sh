#!/usr/bin/env bash
# Builds a signed release of the agent into OUT/releases/VERSION/ (OUT:
# default dist/): one archive per platform (linux-amd64, linux-arm64
# .tar.gz; windows-amd64 .zip), release.json naming each with its size and
# SHA-256, and its Ed25519 signature release.json.sig (docs/operations.md,
# "Releasing the agent").
# Environment: VERSION (MAJOR.MINOR.PATCH), COMMIT, DATE; OUT; PLATFORMS
# (default "linux-amd64 linux-arm64 windows-amd64");
# RELEASE_KEYS, the folder of the test keys made once and reused (default
# .release-keys/); RELEASE_ROOT_KEY, a root private key to certify the
# test signing key with instead of the folder's; RELEASE_SIGNING_KEY and
# RELEASE_SIGNING_CERT (default: the key's path ending .cert), a real
# signing key and its certificate, with RELEASE_ROOTS, the root public
# keys compiled into the agents (default RELEASE_KEYS/root.pub);
# RELEASE_REVOCATIONS, the root's revocation list to ship (default
# RELEASE_KEYS/revocations.json when there); SIGN_CERT and SIGN_KEY, the
# Authenticode certificate of ferry-agent.exe (as installer/build.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. installer/authenticode.sh
GO=${GO:-go}
: "${VERSION:?VERSION=MAJOR.MINOR.PATCH is required}"
if ! [[ $VERSION =~ ^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
	echo "installer/release.sh: VERSION=$VERSION is not MAJOR.MINOR.PATCH[-PRERELEASE]" >&2
	exit 1
fi
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo none)}
DATE=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
OUT=${OUT:-$root/dist}
PLATFORMS=${PLATFORMS:-linux-amd64 linux-arm64 windows-amd64}
keys=${RELEASE_KEYS:-$root/.release-keys}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$GO" build -o "$work/release" ./installer/release

if [ -z "${RELEASE_SIGNING_KEY:-}" ]; then
	"$work/release" keys -dir "$keys" ${RELEASE_ROOT_KEY:+-root-key "$RELEASE_ROOT_KEY"}
fi
signing_key=${RELEASE_SIGNING_KEY:-$keys/signing.key}
signing_cert=${RELEASE_SIGNING_CERT:-${signing_key%.key}.cert}
roots=${RELEASE_ROOTS:-$(cat "$keys/root.pub")}
revocations=${RELEASE_REVOCATIONS:-}
if [ -z "$revocations" ] && [ -f "$keys/revocations.json" ]; then
	revocations=$keys/revocations.json
fi

# The agent is built as installer/build.sh builds it, with the roots it
# trusts compiled in.
ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE -X github.com/ferry-sync/ferry/shared/release.roots=$roots"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
bins=()
for p in $PLATFORMS; do
	os=${p%-*} arch=${p#*-}
	bin="$work/$p/ferry-agent"
	if [ "$os" = windows ]; then
		# Signed for Windows as the MSI's ferry-agent.exe is.
		[ -n "${sign_cert:-}" ] || { installer/deps.sh && authenticode_setup "$OUT"; }
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -ldflags "$ldflags" -o "$bin-unsigned.exe" ./agent/cmd/ferry-agent
		authenticode_sign "$bin-unsigned.exe" "$bin.exe"
		bin="$bin.exe"
	else
		CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -ldflags "$ldflags" -o "$bin" ./agent/cmd/ferry-agent
	fi
	bins+=("$p=$bin")
done
"$work/release" pack -version "$VERSION" -out "$OUT/releases/$VERSION" -key "$signing_key" -cert "$signing_cert" \
	${revocations:+-revocations "$revocations"} -roots "$roots" "${bins[@]}"
