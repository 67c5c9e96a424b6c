-- 附件7 二: 每半天考试结束后由纪检监督设置考试成绩数据密码. A sealed batch's agreed rows,
-- encrypted under the inspector's password (age, scrypt); the bot keeps the archive, never the
-- password.
CREATE TABLE entry_archives (
    batch_id INTEGER PRIMARY KEY REFERENCES entry_batches(id),
    sha256   TEXT NOT NULL,
    archive  BLOB NOT NULL
);
-- A message shown once (a password) and taken back from its chat at `take_back_at`; holds the
-- message's id, never its text.
CREATE TABLE takebacks (
    id           INTEGER PRIMARY KEY,
    chat_id      INTEGER NOT NULL,
    message_id   INTEGER NOT NULL,
    take_back_at INTEGER NOT NULL,
    bot_id       INTEGER
);
CREATE INDEX takebacks_due ON takebacks (take_back_at);
