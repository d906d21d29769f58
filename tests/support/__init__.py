"""Test helpers: real servers (cargohold, PostgreSQL, peers) started on loopback."""
