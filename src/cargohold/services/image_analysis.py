"""Image analysis in the registry: computed once per image manifest, stored, served.

The first request for an image's analysis reads its layers straight from the blob store (no
HTTP, so never counted as a pull), one streaming pass per layer, and stores the document by
manifest digest: the same image in two repositories is analyzed once. An index is analyzed
through its platform manifests. A stored analysis of an older format version is computed
again (decision 050). A failure stores nothing: asking again tries again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from cargohold.errors import AnalysisFailed
from cargohold.meta.analyses import AnalysisRecords
from cargohold.meta.manifests import ManifestRecords
from cargohold.oci.manifests import Manifest
from cargohold.oci.names import check_name
from cargohold.services.blob_streams import open_blob, read_config
from cargohold.services.image_manifests import image_targets
from cargohold.storage.base import BlobDriver

if TYPE_CHECKING:
    from cargohold.analysis.model import AnalysisReport, ImageAnalysis

# The analyzer (analysis/: the layer reader, zstandard) is imported when an image is
# analyzed, not when the registry starts.


class ImageAnalysisService:
    def __init__(
        self, manifests: ManifestRecords, blobs: BlobDriver, records: AnalysisRecords
    ) -> None:
        self.manifests = manifests
        self.blobs = blobs
        self.records = records

    def report(self, repository: str, digest: str) -> AnalysisReport:
        """The analysis of the manifest `digest` (an index: each platform stored here)."""
        from cargohold.analysis.model import AnalysisReport

        check_name(repository)
        manifest, targets = image_targets(self.manifests, repository, digest)
        if not targets:
            reason = (
                "the index lists no image manifest stored here"
                if manifest.is_index
                else "not an image: an artifact, or a config this analyzer does not read"
            )
            raise AnalysisFailed(
                f"{repository}@{digest}: {reason}", detail={"digest": digest, "reason": reason}
            )
        platforms = [self._analysis(repository, d, m) for d, m in targets]
        return AnalysisReport(image=f"{repository}@{digest}", platforms=platforms)

    def _analysis(self, repository: str, digest: str, manifest: Manifest) -> ImageAnalysis:
        import msgspec

        from cargohold.analysis.model import FORMAT_VERSION, ImageAnalysis

        stored = self.records.get(digest)
        if stored is not None and stored.format_version == FORMAT_VERSION:
            return msgspec.json.decode(stored.document, type=ImageAnalysis)
        analysis = self._analyze(repository, digest, manifest)
        self.records.put(digest, FORMAT_VERSION, time.time(), msgspec.json.encode(analysis))
        return analysis

    def _analyze(self, repository: str, digest: str, manifest: Manifest) -> ImageAnalysis:
        from cargohold.analysis.analyze import analyze_image
        from cargohold.scan.errors import ScanError
        from cargohold.scan.layout import ImageToScan, Layer, platform_of
        from cargohold.scan.model import LayerRef

        config = read_config(self.blobs, manifest)
        layers = [
            Layer(
                LayerRef(position, d.digest),
                lambda d=d.digest: open_blob(self.blobs, d),
                size=d.size,
            )
            for position, d in enumerate(manifest.layers)
        ]
        try:
            return analyze_image(ImageToScan(digest, platform_of(config), layers, config))
        except (ScanError, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AnalysisFailed(
                f"{repository}@{digest} could not be analyzed: {reason}",
                detail={"digest": digest, "reason": reason},
            ) from None
