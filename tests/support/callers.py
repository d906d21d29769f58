"""Callers for tests that call the services directly (the HTTP layer makes one per request)."""

from __future__ import annotations

from cargohold.meta.audit_fields import Actor
from cargohold.policy.permissions import USER, Principal
from cargohold.services.caller import PASSWORD_METHOD, Caller

# A signed-in user, as an admin request would carry it.
TESTER = Caller(Principal(USER, "tester"), PASSWORD_METHOD, "192.0.2.1", "cargohold-tests")
# The same, as the metadata modules record it.
TESTER_ACTOR: Actor = TESTER.as_actor()
