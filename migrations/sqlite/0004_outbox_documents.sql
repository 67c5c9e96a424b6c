-- Documents move out of the outbox rows: the due-rows query reads status and times, which sat
-- behind the document bytes in each row, so every claim read every queued spreadsheet (4,500
-- of them at province scale). Rows stay small now; the bytes are read once, when sending.
CREATE TABLE outbox_documents (
    outbox_id INTEGER PRIMARY KEY,
    name      TEXT    NOT NULL,
    bytes     BLOB    NOT NULL
);
INSERT INTO outbox_documents (outbox_id, name, bytes)
    SELECT id, document_name, document FROM outbox WHERE document IS NOT NULL;
ALTER TABLE outbox DROP COLUMN document;
ALTER TABLE outbox DROP COLUMN document_name;
