"""A staged upload in the bucket: readable chunk objects, tail pieces, a lease.

An S3 multipart upload's parts cannot be read back until it is completed, but a session's
bytes must be (to rebuild the running hash on another node, decision 002), and a PATCH is
often smaller than the 5 MiB a part must hold. So a staged name is kept as plain objects
under `<prefix>uploads/<name>/` (keys.py): whole chunks of at least PART_SIZE bytes
(`chunk-<offset>`), and the bytes after them as tail pieces (`tail-<offset>`), which `flush`
writes before the staging records a new offset, so no acknowledged byte lives in one node's
memory only. A flush writes the bytes that arrived since the last one as a new piece, merged
with the pieces before it that are no larger than what follows them: each piece stays larger
than all later ones together, so a tail has at most about log2(PART_SIZE) pieces, and a byte
is written again only into a piece at least twice as large. A stream of tiny PATCHes thus
costs the store about 23 rewrites of each byte at most, not the whole tail (up to 8 MiB)
per request.
`commit` builds the object at its digest's key from them on the server side: one
UploadPartCopy per chunk, several in flight at once, and the tail as the last part of a
multipart upload (assemble.py; a tail alone is put whole). A chunk is PUT by the driver's
threads while the next bytes arrive (two in flight, inflight.py); every other operation waits
for it first. docs/decisions/027 and 038 tell why.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from botocore.client import BaseClient

from cargohold.storage.s3.assemble import assemble
from cargohold.storage.s3.client import READ_PIECE, list_objects, read_object
from cargohold.storage.s3.inflight import InFlight
from cargohold.storage.s3.keys import CHUNK, LEASE, TAIL, KeyLayout
from cargohold.storage.s3.lease import Lease, LeaseLost

# S3's limits: parts of 5 MiB at least (the last excepted), 5 GiB at most, 10,000 per upload.
PART_SIZE = 8 * 1024 * 1024
# Chunks double in size every 1,000, so 10,000 parts reach far past any image layer
# (8 MiB x 1,000 x (1 + 2 + ... + 512) = 8 TiB) while no chunk passes 4 GiB.
PARTS_PER_SIZE = 1000
MAX_PARTS = 10_000
# Chunks sent while the next bytes arrive. One at a time, a store that takes parts at the rate
# one connection sends them waits for each; the direct writer measured two (decision 038).
CHUNKS_IN_FLIGHT = 2


def part_size(index: int) -> int:
    """The size of chunk number `index` (from 0)."""
    return PART_SIZE << (index // PARTS_PER_SIZE)


def tail_bytes(tail: bytes, tail_start: int, start: int, end: int) -> Iterator[bytes]:
    """Bytes [start, end) of the staged bytes that lie in `tail` (which begins at offset
    `tail_start`), in pieces of at most READ_PIECE."""
    for piece in range(max(start, tail_start), end, READ_PIECE):
        yield tail[piece - tail_start : min(piece + READ_PIECE, end) - tail_start]


class UploadTooLarge(OSError):
    """The upload would need more parts than S3 allows."""


class S3Writer:
    """The `BlobWriter` of the S3 driver (see the module docstring)."""

    # Whether chunks are objects of the session (`chunk-<offset>`), deleted when stale.
    chunk_objects = True

    def __init__(
        self,
        client: BaseClient,
        bucket: str,
        layout: KeyLayout,
        name: str,
        append: bool,
        delete_keys: Callable[[list[str]], list[str]],
        executor: ThreadPoolExecutor,
    ) -> None:
        self.name = name
        self._client = client
        self._bucket = bucket
        self._layout = layout
        self._session = layout.session(name)
        self._delete_keys = delete_keys
        # (start, size) of each chunk, contiguous from 0; then the tail's bytes, in memory.
        self._chunks: list[tuple[int, int]] = []
        self._tail = bytearray()
        # (start, size) of the tail pieces in the bucket, contiguous from the last chunk's
        # end: they hold the tail's first bytes. Then keys no longer part of the upload.
        self._pieces: list[tuple[int, int]] = []
        self._stale: set[str] = set()
        self._done = False
        # The driver's threads: they PUT this writer's chunks and copy them at its commit.
        self._executor = executor
        # The chunks being sent in the background, oldest first: (bytes, key), each kept
        # until it is stored.
        self._inflight = InFlight(executor, CHUNKS_IN_FLIGHT)
        self._sending: deque[tuple[bytes, str]] = deque()
        self._lease = Lease(client, bucket, self._session + LEASE, name)
        self._lease.acquire()
        try:
            self._load(append)
        except BaseException:
            self._lease.release()
            raise

    # -- reading what earlier writers left ---------------------------------------------

    def _listing(self) -> dict[str, int]:
        """Leaf name -> size of every object of the session but its lease."""
        found: dict[str, int] = {}
        for item in list_objects(self._client, self._bucket, self._session):
            leaf = item["Key"][len(self._session) :]
            if leaf != LEASE:
                found[leaf] = int(item["Size"])
        return found

    def _load(self, append: bool) -> None:
        found = self._listing()
        if not append:
            self._delete_keys([self._session + leaf for leaf in found])
            return
        # Chunks count from offset 0 while they follow each other; the tail is the one that
        # starts where they end. Anything else a crash left behind goes at the next flush.
        chunks = {
            offset: size
            for leaf, size in found.items()
            if (offset := KeyLayout.offset_of(leaf, CHUNK)) is not None
        }
        end = 0
        while end in chunks and chunks[end] > 0:
            self._chunks.append((end, chunks[end]))
            end += chunks[end]
        live = {KeyLayout.at(CHUNK, start) for start, _ in self._chunks}
        self._load_tail(found, end, live)

    def _load_tail(self, found: dict[str, int], end: int, live: set[str]) -> None:
        """Read the tail pieces that follow each other from `end` (where the parts end); the
        session's objects neither in `live` nor such a piece are stale."""
        while found.get(leaf := KeyLayout.at(TAIL, end), 0) > 0:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._session + leaf)
            with contextlib.closing(answer["Body"]) as body:
                piece = body.read()
            if not piece:
                break
            self._tail += piece
            self._pieces.append((end, len(piece)))
            end += len(piece)
        live |= {KeyLayout.at(TAIL, start) for start, _ in self._pieces}
        self._stale = {self._session + leaf for leaf in found if leaf not in live}

    # -- the BlobWriter interface ------------------------------------------------------

    @property
    def _chunk_end(self) -> int:
        if not self._chunks:
            return 0
        start, size = self._chunks[-1]
        return start + size

    @property
    def size(self) -> int:
        return self._chunk_end + len(self._tail)

    def _check_open(self) -> None:
        if self._done:
            raise ValueError(f"the writer of {self.name!r} is finished")

    def write(self, data: bytes) -> None:
        self._check_open()
        self._renew()
        self._tail += data
        while len(self._tail) >= part_size(len(self._chunks)):
            if self._inflight.full:
                self._await_oldest()
            size = part_size(len(self._chunks))
            if len(self._chunks) + 1 >= MAX_PARTS:
                raise UploadTooLarge(f"upload {self.name!r} exceeds S3's {MAX_PARTS} parts")
            start = self._chunk_end
            key = self._session + KeyLayout.at(CHUNK, start)
            chunk = bytes(memoryview(self._tail)[:size])
            self._inflight.start(self._send_chunk, len(self._chunks), key, chunk)
            self._sending.append((chunk, key))
            self._stale.discard(key)
            self._chunks.append((start, size))
            del self._tail[:size]
            self._drop_pieces(0)

    def _send_chunk(self, index: int, key: str, chunk: bytes) -> object:
        """Store chunk number `index` (in one of the driver's threads); what `_chunk_sent`
        gets."""
        self._client.put_object(Bucket=self._bucket, Key=key, Body=chunk)
        return None

    def _chunk_sent(self, index: int, answer: object) -> None:
        """Chunk number `index` is stored; `answer` is what `_send_chunk` returned."""

    def _await_chunk(self, raise_error: bool = True) -> None:
        """Wait for the chunks in flight. If one failed, its bytes and those of the chunks
        after it go back to the tail (the writer is as if they were never cut) and the error
        is raised unless `raise_error` is False (the caller is cutting back or giving up,
        which needs no stored chunk)."""
        while self._sending:
            try:
                self._await_oldest()
            except Exception:
                if raise_error:
                    raise
                return

    def _await_oldest(self) -> None:
        """Wait for the oldest chunk in flight (see _await_chunk)."""
        try:
            answer = self._inflight.wait()
        except Exception:
            self._inflight.settle()  # whatever the later ones did, they are cut back too
            # The chunks in flight are the last ones cut.
            del self._chunks[len(self._chunks) - len(self._sending) :]
            self._tail[0:0] = b"".join(chunk for chunk, _ in self._sending)
            if self.chunk_objects:  # they may be stored all the same
                self._stale |= {key for _, key in self._sending}
            self._sending.clear()
            raise
        self._sending.popleft()
        self._chunk_sent(len(self._chunks) - len(self._sending) - 1, answer)

    def truncate(self, size: int) -> None:
        self._check_open()
        self._await_chunk(raise_error=False)
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot truncate {self.size} staged bytes to {size}")
        if size == self.size:
            return
        if size >= self._chunk_end:
            del self._tail[size - self._chunk_end :]
            # Pieces wholly before the cut stay; the next flush writes the rest again.
            kept, length = 0, 0
            while kept < len(self._pieces) and length + self._pieces[kept][1] <= len(self._tail):
                length += self._pieces[kept][1]
                kept += 1
            self._drop_pieces(kept)
            return
        # Cut inside a chunk: its first bytes become the tail; it and later chunks go.
        index = next(i for i, (start, length) in enumerate(self._chunks) if size < start + length)
        start = self._chunks[index][0]
        kept = b"".join(self._read_chunk(start, 0, size - start)) if size > start else b""
        self._stale |= {self._session + KeyLayout.at(CHUNK, s) for s, _ in self._chunks[index:]}
        del self._chunks[index:]
        self._tail = bytearray(kept)
        self._drop_pieces(0)

    def _drop_pieces(self, first: int) -> None:
        """The tail pieces from number `first` on no longer hold the tail's bytes."""
        self._stale |= {self._session + KeyLayout.at(TAIL, s) for s, _ in self._pieces[first:]}
        del self._pieces[first:]

    def _read_chunk(self, start: int, first: int, last: int) -> Iterator[bytes]:
        """Bytes [first, last) of the chunk at `start`."""
        key = self._session + KeyLayout.at(CHUNK, start)
        return read_object(self._client, self._bucket, key, first, last)

    def read(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        self._check_open()
        self._await_chunk(raise_error=False)
        end = self.size if end is None else min(end, self.size)
        return self._read(start, end, list(self._chunks), bytes(self._tail))

    def _read(
        self, start: int, end: int, chunks: list[tuple[int, int]], tail: bytes
    ) -> Iterator[bytes]:
        for chunk_start, length in chunks:
            first, last = max(start, chunk_start), min(end, chunk_start + length)
            if first < last:
                yield from self._read_chunk(chunk_start, first - chunk_start, last - chunk_start)
        yield from tail_bytes(tail, chunks[-1][0] + chunks[-1][1] if chunks else 0, start, end)

    def flush(self) -> None:
        """Write the tail, so a writer on any node finds every byte written so far."""
        self._check_open()
        self._flush()

    def _flush(self) -> None:
        self._await_chunk()
        stored = sum(size for _, size in self._pieces)
        if stored == len(self._tail) and not self._stale and not self._unsaved():
            return
        self._renew()
        if stored < len(self._tail):
            # The new bytes take along every piece no larger than what follows it.
            first, following = len(self._pieces), len(self._tail) - stored
            while first > 0 and self._pieces[first - 1][1] <= following:
                first -= 1
                following += self._pieces[first][1]
            start = len(self._tail) - following  # in the tail
            key = self._session + KeyLayout.at(TAIL, self._chunk_end + start)
            body = bytes(memoryview(self._tail)[start:])
            self._client.put_object(Bucket=self._bucket, Key=key, Body=body)
            self._drop_pieces(first)
            self._stale.discard(key)  # the first piece taken along was at this key
            self._pieces.append((self._chunk_end + start, following))
        self._save()
        if self._stale:
            self._delete_keys(sorted(self._stale))
            self._stale.clear()

    def _unsaved(self) -> bool:
        """Whether the session has state to record besides its tail (a subclass's)."""
        return False

    def _save(self) -> None:
        """Record that state: after the tail's new piece, before stale objects go."""

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        kept = False
        try:
            if self._lease.held:
                self._flush()
                kept = self._linger()
        finally:
            if not kept:
                self._lease.release()

    def _linger(self) -> bool:
        """Whether the closed writer keeps its lease a while, for the name's next writer in
        this process (a subclass's; it releases the lease later)."""
        return False

    def commit(self, digest: str) -> None:
        self._check_open()
        target = self._layout.blob(digest)  # a bad digest changes nothing
        self._await_chunk()
        self._renew(now=True)
        if not self._chunks:
            self._client.put_object(Bucket=self._bucket, Key=target, Body=bytes(self._tail))
        elif len(self._chunks) == 1 and not self._tail:
            source = self._session + KeyLayout.at(CHUNK, 0)
            self._client.copy_object(
                Bucket=self._bucket, Key=target, CopySource={"Bucket": self._bucket, "Key": source}
            )
        else:
            chunk_keys = [self._session + KeyLayout.at(CHUNK, start) for start, _ in self._chunks]
            assemble(
                self._client,
                self._bucket,
                target,
                chunk_keys,
                bytes(self._tail),
                self._executor,
                self._renew,
            )
        self._end()

    def cancel(self) -> None:
        if self._done:
            return
        self._done = True
        self._await_chunk(raise_error=False)
        self._end()

    def _end(self, keep: str | None = None) -> None:
        """The writer is finished: the session's objects go (but `keep`), then the name."""
        self._done = True
        try:
            if self._lease.held:
                self._drop_session(keep)
        finally:
            self._lease.release()

    def _drop_session(self, keep: str | None) -> None:
        self._drop_all()

    def _drop_all(self) -> None:
        """Delete every object of the session but the lease (released last, by the caller)."""
        self._delete_keys([self._session + leaf for leaf in self._listing()])

    def _renew(self, now: bool = False) -> None:
        try:
            if now:
                self._lease.renew()
            else:
                self._lease.renew_if_due()
        except LeaseLost:
            self._done = True  # another writer has the name: touch nothing more
            raise
