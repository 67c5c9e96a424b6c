//! A file someone sent the bot, kept as the reference Telegram gave it: the bot never downloads
//! it, and sends it on to whoever may see it by that reference. Stored as text
//! ("photo:<file_id>" or "document:<file_id>"), encoded and parsed here only.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    Photo(String),
    Document(String),
}

impl Attachment {
    pub fn parse(stored: &str) -> Option<Attachment> {
        let (kind, id) = stored.split_once(':')?;
        if id.is_empty() {
            return None;
        }
        match kind {
            "photo" => Some(Attachment::Photo(id.to_string())),
            "document" => Some(Attachment::Document(id.to_string())),
            _ => None,
        }
    }

    /// Whether a document of this MIME type can be a signed form: a PDF scan or an image
    /// (a photo sent "as a file" keeps its full resolution).
    pub fn form_mime(mime: &str) -> bool {
        mime == "application/pdf" || mime.starts_with("image/")
    }
}

impl fmt::Display for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attachment::Photo(id) => write!(f, "photo:{id}"),
            Attachment::Document(id) => write!(f, "document:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_reads_back_as_written() {
        for a in [
            Attachment::Photo("AgAC:x-1".into()),
            Attachment::Document("BQAC".into()),
        ] {
            assert_eq!(Attachment::parse(&a.to_string()), Some(a));
        }
        assert_eq!(Attachment::parse("sticker:1"), None);
        assert_eq!(Attachment::parse("photo:"), None);
        assert!(Attachment::form_mime("application/pdf") && Attachment::form_mime("image/jpeg"));
        assert!(!Attachment::form_mime("application/zip"));
    }
}
