# Shared helpers of the project's scripts. Source it; it defines functions only.
# shellcheck shell=bash

SHOAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOAL_BIN="$SHOAL_ROOT/bin/shoal"

log() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# apt_install PACKAGE... installs Debian packages that are missing.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
		{ as_root apt-get update >/dev/null && as_root apt-get install -y "${missing[@]}" >/dev/null; } ||
		die "could not install ${missing[*]}"
}

# ensure_docker installs Debian's docker.io if the engine is absent and starts
# dockerd if it is not answering, then waits until it does.
ensure_docker() {
	if ! command -v dockerd >/dev/null 2>&1; then
		apt_install docker.io
	fi
	if ! command -v docker >/dev/null 2>&1; then
		apt_install docker.io
	fi
	if docker info >/dev/null 2>&1; then
		return 0
	fi
	log "starting dockerd (log: /var/log/shoal-dockerd.log)"
	# Docker's own bridge can be missing after an earlier dockerd ran with
	# --bridge=none; dockerd re-creates it on start.
	as_root setsid dockerd >/var/log/shoal-dockerd.log 2>&1 </dev/null 9>&- &  # not holding a caller's lock (scripts/cluster: fd 9)
	local i
	for i in $(seq 1 60); do
		docker info >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	tail -20 /var/log/shoal-dockerd.log >&2 || true
	die "dockerd did not answer within 30s"
}

# ensure_go checks that a Go toolchain is on the PATH.
ensure_go() {
	if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
		export PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null 2>&1 || die "Go is needed to build shoal (https://go.dev/dl/); put it on the PATH"
}

# HELM_VERSION and HELM4_VERSION are the Helms the integration tests drive
# (integration/helm_test.go): Helm 3, and Helm 4 (server-side apply).
HELM_VERSION="v3.22.0"
HELM4_VERSION="v4.3.1"

# build_helm MODULE VERSION builds Helm's CLI from its Go module (only the Go
# module proxy is needed) into a cache outside the worktree, once per
# version, and prints the binary's path. Helm's module is built on its own,
# outside shoal's module, since its Kubernetes modules are other versions
# than shoal's.
build_helm() {
	local module="$1" version="$2"
	local dir="${XDG_CACHE_HOME:-$HOME/.cache}/shoal/helm-$version"
	if [[ ! -x "$dir/helm" ]]; then
		log "building helm $version from its Go module (a few minutes, once)" >&2
		local tmp
		tmp="$(mktemp -d)"
		mkdir -p "$dir"
		# The version stamp is what Helm's own release build sets.
		(cd "$tmp" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$tmp/bin" \
			go install -ldflags "-s -w -X $module/internal/version.version=$version" \
			"$module/cmd/helm@$version") >&2 ||
			{ rm -rf "$tmp"; die "could not build helm $version"; }
		mv "$tmp/bin/helm" "$dir/helm"  # whole, so an interrupted build leaves no binary
		rm -rf "$tmp"
	fi
	echo "$dir/helm"
}

# ensure_helm builds (once) and exports SHOAL_HELM (Helm 3) and SHOAL_HELM4
# (Helm 4) with their paths.
ensure_helm() {
	ensure_go
	SHOAL_HELM="$(build_helm helm.sh/helm/v3 "$HELM_VERSION")" || die "could not build helm $HELM_VERSION"
	SHOAL_HELM4="$(build_helm helm.sh/helm/v4 "$HELM4_VERSION")" || die "could not build helm $HELM4_VERSION"
	export SHOAL_HELM SHOAL_HELM4
}

# build_shoal builds the static binary bin/shoal.
build_shoal() {
	ensure_go
	local version
	version="$(git -C "$SHOAL_ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)"
	log "building bin/shoal ($version)"
	(cd "$SHOAL_ROOT" && CGO_ENABLED=0 go build -trimpath \
		-ldflags "-s -w -X github.com/shoal-dev/shoal/cli.Version=v0.1.0-$version" \
		-o "$SHOAL_BIN" .)
}

# wait_http URL SECONDS waits until URL answers 200. For an agent's API
# (HTTPS) give its /readyz: a public path, so the certificate is not checked
# here (-k) and no credential is sent.
wait_http() {
	local url="$1" secs="$2" i
	for i in $(seq 1 $((secs * 5))); do
		curl -kfsS -o /dev/null "$url" 2>/dev/null && return 0
		sleep 0.2
	done
	return 1
}

# memory_kib PID FIELD prints a field of the process's memory in KiB from
# /proc/PID/smaps_rollup: Rss (resident), Anonymous (private: what the
# process itself allocated) or Pss (resident, with pages shared among
# processes, such as a binary mapped by several agents, split among them).
memory_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/smaps_rollup"
}

# unmount_under DIR... unmounts everything mounted at or below the DIRs
# (container root file systems, container network namespaces, agents' tmpfs
# volumes) deepest first, so that rm -rf deletes nothing through a mount.
unmount_under() {
	local pass m d mounts
	for ((pass = 0; pass < 5; pass++)); do
		mounts="$(awk '{print $5}' /proc/self/mountinfo | while read -r m; do
			m="$(printf '%b' "$m")" # mountinfo escapes spaces as \040
			for d in "$@"; do
				case "$m" in "$d" | "$d"/*) echo "$m" ;; esac
			done
		done | sort -ru)"
		[[ -z "$mounts" ]] && return 0
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done <<<"$mounts"
	done
	die "cannot unmount: $mounts"
}
