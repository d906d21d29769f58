"""Cosign-compatible signing and verification: a domain engine with no HTTP and no database.

- `keys`: cosign's key files (scrypt + NaCl secretbox sealed private keys, PKIX public keys);
- `payload`: the simple-signing payload a signature covers;
- `signing`: signature layers and the manifests that carry them (`.sig` tag, OCI referrer);
- `discovery`: every signature cosign can leave for an image, read through a `SignatureSource`;
- `verification`: each one checked against trusted keys, with the reason when it fails.

The CLI drives it over HTTP (cli/registry_client.py implements `SignatureSource`); the
registry itself can drive it from its own store.
"""
