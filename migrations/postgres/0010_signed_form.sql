-- The candidate's own signed application (附件5, filled and signed by the candidate: 附件6 注1),
-- as the photo or PDF the filer sent. Telegram keeps the file; the request keeps its reference
-- ("photo:<file_id>" or "document:<file_id>", see `domain::attachment`). Requests filed before
-- this have none.
ALTER TABLE review_requests ADD COLUMN signed_form TEXT;
-- A message that sends on a file Telegram already holds (the signed form, to an approver who
-- taps for it); cleared with the body once delivered.
ALTER TABLE outbox ADD COLUMN file_ref TEXT;
