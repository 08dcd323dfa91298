"""Scale-out: tenants sharded over worker processes, routed by HAProxy from their credentials."""
