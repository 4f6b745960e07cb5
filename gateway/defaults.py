"""The gateway's default limits and timings, defined once: :class:`gateway.deps.GatewayDeps`,
:class:`gateway.media.MediaStore`, :class:`gateway.feed.CaseFeed` and
:class:`gateway.open311.config.Open311Config` use them, and ``gridhub.settings``
takes its defaults from here. Plain constants: importing this module imports nothing."""

from __future__ import annotations

MAX_BODY_BYTES = 256 * 1024  # a request body (uploads get the media limit)
MEDIA_MAX_BYTES = 5 * 1024 * 1024  # one uploaded photo
ACTION_TIMEOUT = 3.0  # seconds a case action waits for the case agent's answer
SSE_HEARTBEAT = 15.0  # seconds between ``: ping`` comments on an idle live stream
SSE_BUFFER = 10_000  # case events kept for resuming live streams (Last-Event-ID)
EVENTS_MAX_BATCH = 500  # events in one CloudEvents batch request
EVENTS_MAX_EVENT_BYTES = 64 * 1024  # one event of a batch, as JSON
OPEN311_CONTACT = "GridHub social-governance information centre (社会治理信息中心)"
PUBLIC_CACHE_SECONDS = 60.0  # how long an anonymous public read is answered from memory
