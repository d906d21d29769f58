"""Pure definitions from the OCI specs: names, digests, media types, manifests."""
