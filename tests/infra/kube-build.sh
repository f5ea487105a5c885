# shellcheck shell=bash
# Sourced by tests/infra/k8s-bed.sh and tests/infra/node-bed.sh: the one recipe for building Kubernetes binaries
# (kube-apiserver, ..., kubelet) from k8s.io/kubernetes@v$K8S_VERSION. Both beds build the same module with the same
# flags, so the node bed's kubelet reuses the packages the control-plane bed left in the Go build cache.
# Needs K8S_VERSION and die from the sourcing script.

gobuild() { # gobuild ARGS...: go build/install at the lowest priority (a CI run may share the machine), static
  nice -n 19 env CGO_ENABLED=0 GOFLAGS=-buildvcs=false go "$@"
}

write_kube_module() { # write_kube_module DIR PACKAGE...: a module in DIR that builds these k8s.io/kubernetes commands
  local dir=$1 kmod staging goline m p
  shift
  mkdir -p "$dir"
  kmod=$(cd "$dir" && GOFLAGS=-buildvcs=false go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p') || die "go mod download k8s.io/kubernetes@v$K8S_VERSION failed"
  [[ -s $kmod ]] || die "no go.mod for k8s.io/kubernetes@v$K8S_VERSION"
  # k8s.io/kubernetes replaces its staging modules with ./staging/src/k8s.io/*, which a dependent module
  # cannot see: replace each with its published v0.<minor>.<patch>.
  staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/src/.*#\1#p' "$kmod")
  [[ -n $staging ]] || die "found no staging modules in $kmod"
  goline=$(grep -m1 -E '^go [0-9.]+$' "$kmod")
  {
    printf 'module chaos.engineering/k8s-bed/kube\n\n%s\n\n' "$goline"
    grep -E '^godebug ' "$kmod" || true
    printf '\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    for m in $staging; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${K8S_VERSION#*.}"; done
    printf ')\n'
  } >"$dir/go.mod"
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for p in "$@"; do printf '\t_ "%s"\n' "$p"; done
    printf ')\n'
  } >"$dir/tools.go"
}

kube_ldflags() { # the ldflags that make --version say v$K8S_VERSION
  local minor=${K8S_VERSION#*.} ldflags="-s -w" c
  minor=${minor%%.*}
  for c in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $c.gitVersion=v$K8S_VERSION -X $c.gitMajor=${K8S_VERSION%%.*} -X $c.gitMinor=$minor"
    ldflags+=" -X $c.gitTreeState=clean -X $c.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s\n' "$ldflags"
}
