"""OCI distribution-spec routes, one module per resource."""
