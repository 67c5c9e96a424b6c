-- 附件7 二: 一人报分，一人录入，另两人分别监督报分与录入. The two who watched each entry, by
-- Telegram user id (uploads made before they were asked for have none).
ALTER TABLE entry_uploads ADD COLUMN watched_reading INTEGER;
ALTER TABLE entry_uploads ADD COLUMN watched_entering INTEGER;
