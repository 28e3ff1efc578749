"""Tables of the objects service (object-level access lives in `permissions`)."""
