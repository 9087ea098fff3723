-- 004: devices expire when unused for DEVICE_EXPIRY (issue #13). The server's sweep looks for
-- them by last use, least recently used first, without reading every device.
CREATE INDEX devices_by_last_seen ON devices(last_seen_at);
