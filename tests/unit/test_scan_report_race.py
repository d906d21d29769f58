"""Two scans of one image finishing at the same moment (scan on push and a scan asked for):
both reports are stored one after the other, never a duplicate-key failure."""

from __future__ import annotations

import threading

from cargohold.meta.scans import ScanStore
from cargohold.meta.store import MetadataStore


def test_simultaneous_reports_of_a_new_image_are_stored_one_after_the_other(
    meta: MetadataStore,
) -> None:
    store = ScanStore(meta.db)
    failures: list[BaseException] = []
    go = threading.Barrier(8)

    def save(n: int) -> None:
        go.wait(10)
        try:
            for round_number in range(5):
                digest = f"sha256:{round_number:064x}"
                store.save_report(
                    digest,
                    inventory=[{"name": f"pkg-{n}"}],
                    db_version=None,
                    findings=[],
                    blocking_problem=None,
                )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    for round_number in range(5):
        assert store.report(f"sha256:{round_number:064x}") is not None
