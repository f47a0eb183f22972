"""The sandbox service: leases isolated workspaces and runs untrusted commands in them."""
