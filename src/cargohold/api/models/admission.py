"""Response models of the admission webhook's records: where an image was admitted, when."""

from __future__ import annotations

from typing import Annotated

import msgspec

from cargohold.api.models.base import Model
from cargohold.api.models.times import UtcTime, utc
from cargohold.meta.admissions import AdmissionRow


class Admission(Model):
    """One workload of one cluster that the admission webhook let run the image."""

    cluster: Annotated[str, msgspec.Meta(description="From the webhook's URL path")]
    namespace: str
    kind: Annotated[str, msgspec.Meta(description="Pod, Deployment, CronJob...")]
    name: str
    repository: str
    digest: str
    image: Annotated[str, msgspec.Meta(description="The reference as the workload wrote it")]
    first_admitted_at: UtcTime
    last_admitted_at: UtcTime

    @classmethod
    def of(cls, row: AdmissionRow) -> Admission:
        return cls(
            cluster=row.cluster,
            namespace=row.namespace,
            kind=row.kind,
            name=row.name,
            repository=row.repository,
            digest=row.digest,
            image=row.image,
            first_admitted_at=utc(row.first_admitted_at),
            last_admitted_at=utc(row.last_admitted_at),
        )


class AdmissionList(Model):
    repository: str
    digest: Annotated[
        str | None, msgspec.Meta(description="The digest asked about (null: every digest)")
    ]
    keep_days: Annotated[
        int,
        msgspec.Meta(description="Lifecycle and GC keep an image admitted this recently"),
    ]
    admissions: Annotated[list[Admission], msgspec.Meta(description="The latest first")]
