-- 003: accounts an administrator has disabled (npm run admin -- disable-user NAME).
-- A disabled user cannot log in and none of their tokens work; their messages stay.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
