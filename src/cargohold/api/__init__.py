"""HTTP: the OCI distribution API under /v2/ and the admin API under /api/v1/."""
