"""Privacy masks of site cameras: which apply now, and granting (audited, bounded) lifts."""

from __future__ import annotations

__all__ = ["camera_masks", "effective_polygons", "grant_lift"]

from datetime import datetime, timedelta

from analytics.geometry import Polygon, parse_pixel_polygon
from privacy.masks import MaskLift, MaskSet, StaticMask, polygons_of
from vmsbridge.app import Stores
from vmsbridge.config import SiteConfig
from vmsbridge.errors import NotFound, VmsBridgeError
from vmsbridge.model.evidence import MaskLiftRecord


def camera_masks(site: SiteConfig, camera_id: str) -> list[StaticMask]:
    camera = next((c for c in site.cameras if c.id == camera_id), None)
    if camera is None:
        raise NotFound(f"camera {camera_id!r} is not in the site configuration")
    return [StaticMask(parse_pixel_polygon(m.polygon), m.kind, m.label) for m in camera.masks]


def _lift(record: MaskLiftRecord) -> MaskLift:
    return MaskLift(record.mask_label, record.actor, record.reason, record.granted_at, record.until)


async def grant_lift(
    stores: Stores,
    site: SiteConfig,
    *,
    camera_id: str,
    label: str,
    actor: str,
    reason: str,
    duration: timedelta,
    now: datetime,
) -> MaskLiftRecord:
    """Record a lift (and its audit entry) once the privacy rules accept it; ValueError says why not."""
    masks = camera_masks(site, camera_id)
    try:
        lift = MaskLift(label, actor, reason, now, now + duration)  # who, why, bounded?
        MaskSet(masks, [lift])  # a liftable mask of this camera?
    except ValueError as exc:
        raise VmsBridgeError(f"lift refused: {exc}") from None
    return await stores.mask_lifts.grant(
        MaskLiftRecord(camera_id, label, lift.actor, lift.reason, lift.granted_at, lift.until)
    )


async def effective_polygons(stores: Stores, site: SiteConfig, camera_id: str, at: datetime) -> list[Polygon]:
    lifts = [_lift(r) for r in await stores.mask_lifts.for_camera(camera_id, active_at=at)]
    return polygons_of(MaskSet(camera_masks(site, camera_id), lifts).effective(at))
