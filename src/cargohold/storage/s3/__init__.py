"""The S3 blob driver: any S3-compatible object store (AWS S3, MinIO, Ceph RGW, SeaweedFS).

`S3BlobStore` (driver.py) stores objects under their digest and stages uploads as readable
chunk objects under a session prefix (writer.py), held exclusively through a lease object
written with conditional requests (lease.py). docs/decisions/026 and 027 tell why.
"""

from cargohold.storage.s3.client import S3Options, S3Unavailable
from cargohold.storage.s3.driver import S3BlobStore

__all__ = ["S3BlobStore", "S3Options", "S3Unavailable"]
