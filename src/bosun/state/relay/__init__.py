"""Messages between replicas about work one of them holds (a bridged child, a parked call)."""
