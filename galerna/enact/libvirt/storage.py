"""Disk images in the host's libvirt storage pool: the base images, and a copy-on-write qcow2 overlay per VM.

Without the pool (none configured, or none defined on the host) images are
taken where the VM spec says they are: shared storage.
"""
from __future__ import annotations

import logging
import os

import libvirt

from galerna.enact.driver import HypervisorError, OperationKind as Op, VMSpec
from galerna.enact.libvirt.connection import Connection
from galerna.model.lease import DiskImage

log = logging.getLogger(__name__)


class PoolStorage:
    """The images of one host, in the pool called ``pool_name`` (None: never look for a pool)."""

    def __init__(self, connection: Connection, pool_name: str | None):
        self.connection = connection
        self.pool_name = pool_name

    def pool(self) -> libvirt.virStoragePool | None:
        if not self.pool_name:
            return None
        conn = self.connection.get()
        try:
            pool = conn.storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
                return None
            raise self.connection.error(e, Op.STAGE_IMAGE, None) from e
        try:
            if not pool.isActive():
                pool.create(0)
        except libvirt.libvirtError as e:
            raise self.connection.error(e, Op.STAGE_IMAGE, None) from e
        return pool

    @staticmethod
    def _vol(pool: libvirt.virStoragePool, name: str) -> libvirt.virStorageVol | None:
        try:
            return pool.storageVolLookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise

    def stage_image(self, image: DiskImage, source: str | None = None) -> str:
        pool = self.pool()
        if pool is None:
            if source:
                return source  # shared storage: the image is already where the host can read it
            raise HypervisorError(
                f"no storage pool {self.pool_name!r} and no image source", op=Op.STAGE_IMAGE, host=self.connection.uri, transient=False
            )
        try:
            vol = self._vol(pool, image.id)
            if vol is None:
                size = max(1, int(image.size_mb))
                vol = pool.createXML(
                    f"<volume><name>{image.id}</name><capacity unit='M'>{size}</capacity>"
                    "<target><format type='qcow2'/></target></volume>",
                    0,
                )
                if source and os.path.exists(source):
                    self._upload(vol, source)
            return vol.path()
        except libvirt.libvirtError as e:
            raise self.connection.error(e, Op.STAGE_IMAGE, None) from e

    def _upload(self, vol: libvirt.virStorageVol, source: str) -> None:
        conn = self.connection.get()
        size = os.path.getsize(source)
        stream = conn.newStream(0)
        vol.upload(stream, 0, size, 0)
        with open(source, "rb") as fh:
            stream.sendAll(lambda st, n, f: f.read(n), fh)
        stream.finish()

    def prepare_disk(self, spec: VMSpec) -> tuple[str | None, str]:
        """(disk path, format) for a new VM: a copy-on-write overlay in the pool where possible."""
        if spec.image is None:
            return spec.image_path, "raw"
        pool = self.pool()
        if pool is None:
            return spec.image_path, "qcow2"
        try:
            base = self._vol(pool, spec.image.id)
            base_path = base.path() if base is not None else self.stage_image(spec.image, spec.image_path)
            overlay = self._vol(pool, f"{spec.name}.qcow2")
            if overlay is None:
                size = max(1, int(spec.image.size_mb))
                overlay = pool.createXML(
                    f"<volume><name>{spec.name}.qcow2</name><capacity unit='M'>{size}</capacity>"
                    "<target><format type='qcow2'/></target>"
                    f"<backingStore><path>{base_path}</path><format type='qcow2'/></backingStore></volume>",
                    0,
                )
            return overlay.path(), "qcow2"
        except libvirt.libvirtError as e:
            raise self.connection.error(e, Op.DEPLOY, spec.name) from e

    def delete_overlay(self, name: str) -> None:
        try:
            pool = self.pool()
            if pool is None:
                return
            vol = self._vol(pool, f"{name}.qcow2")
            if vol is not None:
                vol.delete(0)
        except (libvirt.libvirtError, HypervisorError) as e:
            log.warning("%s: could not delete overlay of %s: %s", self.connection.uri, name, e)
