"""`botfleet fleet`: the daily routine of a person running a fleet, through the Kubernetes API with
the user's kubeconfig (what `pm2 status/monit/restart all` gave for processes on one host)."""
