"""The admin API's response models (decision 018): msgspec Structs, one module per concern.

RESPONSE_MODELS lists the top-level documents; the OpenAPI component schemas are generated from
them (api/openapi/components.py), with every model they refer to.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cargohold.analysis.model import AnalysisReport
from cargohold.api.models import (
    accounts,
    admission,
    audit,
    jobs,
    policy,
    registry,
    scan_policy,
    scanning,
    trust,
)

RESPONSE_MODELS: list[type[msgspec.Struct]] = [
    registry.System,
    registry.RepositoryList,
    registry.TagList,
    audit.AuditList,
    registry.StorageReport,
    registry.Quota,
    policy.TagRuleList,
    policy.HoldList,
    policy.LifecyclePolicy,
    policy.LifecyclePreview,
    jobs.JobList,
    jobs.JobRun,
    scanning.ScanResult,
    scanning.ScanJobReport,
    scanning.ReevaluationReport,
    scanning.VulnDbStatus,
    scanning.VulnDbImport,
    scanning.VulnDbUpdateReport,
    scan_policy.ScanPolicy,
    scan_policy.ScanPolicyList,
    scan_policy.AllowlistEntry,
    scan_policy.Allowlist,
    scan_policy.OverdueReport,
    # The analyzer's own document (analysis/model.py, decision 049).
    AnalysisReport,
    admission.AdmissionList,
    *accounts.RESPONSE_MODELS,
    *trust.RESPONSE_MODELS,
]
# Request bodies read with msgspec (the accounts and trust routes'): their schemas are
# generated too.
REQUEST_MODELS: list[type[msgspec.Struct]] = [*accounts.REQUEST_MODELS, *trust.REQUEST_MODELS]
# Unions documented as components of their own: one NDJSON line of a streamed report.
NAMED_UNIONS: dict[str, Any] = {"GcEvent": jobs.GcEvent, "FsckEvent": jobs.FsckEvent}
