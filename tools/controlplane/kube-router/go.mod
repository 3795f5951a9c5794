module botfleet.local/controlplane/kube-router

// kube-router enforces NetworkPolicy on the real node (only its firewall runs: no routing, no
// service proxy, no CNI). Pinned; go.sum holds every package of the build.
go 1.26.0

require github.com/cloudnativelabs/kube-router/v2 v2.1.0
