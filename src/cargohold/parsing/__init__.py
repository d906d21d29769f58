"""Parsing untrusted text: JSON documents and decimal integers, strictly and within bounds.

Every request body, header and parameter that carries JSON or a number goes through here,
so a malformed one becomes a clear client error instead of an exception deep inside.
"""
