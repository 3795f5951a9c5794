#!/usr/bin/env bash
# The Debian packages the test suite needs, installed by `make test` (and so by .ci/run) when run as
# root; otherwise it names what is missing and the command to install it, and the tests that need a
# missing package are skipped with that reason.
#   buildah, debootstrap, uidmap         image builds without Docker (tests/image, the real node)
#   prometheus                           Prometheus + promtool (tests/chart: dashboards and alert rules)
#   postgresql-15                        the PostgreSQL journal backend
#   containerd, runc, containernetworking-plugins, iptables, conntrack, ipset
#                                        the real kubelet node (tests marked realnode; ipset for
#                                        kube-router's NetworkPolicy)
set -euo pipefail
pkgs=(buildah debootstrap uidmap prometheus postgresql-15 containerd runc containernetworking-plugins iptables conntrack ipset)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "make test: missing Debian packages: ${missing[*]}" >&2
    echo "  the tests that need them will be skipped; install them with:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Packaged services (postgresql, containerd, prometheus) must not start: the tests start their own.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
fi
trap '[ "$created" -eq 1 ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
