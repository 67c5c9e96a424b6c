//! What a route's requests are, and what differs between them: a score review (附件5; after its
//! levels the district's group records and signs a result, inside the review's window) or a
//! 免考 application (附件2; its last level's approval is the result, and it lapses when the exam
//! begins). The engine asks these instead of asking which one it holds.

use super::review::State;
use crate::render::tpl;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    #[default]
    Review,
    Exemption,
}

impl Purpose {
    /// As `review_requests.kind` stores it.
    pub fn kind(self) -> &'static str {
        match self {
            Purpose::Review => "review",
            Purpose::Exemption => "exemption",
        }
    }

    /// The purpose a stored `kind` names.
    pub fn from_kind(kind: &str) -> Option<Purpose> {
        [Purpose::Review, Purpose::Exemption]
            .into_iter()
            .find(|p| p.kind() == kind)
    }

    /// The paper form a request is printed on.
    pub fn form(self) -> &'static str {
        match self {
            Purpose::Review => "附件5",
            Purpose::Exemption => "附件2",
        }
    }

    /// Where a request goes once its last level agrees: a review to its group's record, a 免考
    /// application is decided.
    pub fn after_the_levels(self) -> State {
        match self {
            Purpose::Review => State::Recording,
            Purpose::Exemption => State::Completed,
        }
    }

    /// Whether the review's window (附件4 二) bounds the request's levels, returns and 复审; a
    /// 免考 application has its own window and lapses when the exam begins instead.
    pub fn in_the_review_window(self) -> bool {
        self == Purpose::Review
    }

    /// Whether no level may decide it once the exam has begun (it lapses).
    pub fn lapses_when_the_exam_begins(self) -> bool {
        self == Purpose::Exemption
    }

    /// Whether its school's contacts hear every step of it, not only its filer (附件2 is the
    /// school's application).
    pub fn tells_the_school(self) -> bool {
        self == Purpose::Exemption
    }

    /// Whether its card offers the proofs and photos it came with (附件2's exhibits).
    pub fn has_exhibits(self) -> bool {
        self == Purpose::Exemption
    }

    /// Whether a review group records its result after the levels.
    pub fn has_a_group(self) -> bool {
        self == Purpose::Review
    }

    /// The templates of its card: the card itself, its heading at a level, and its footer once
    /// decided.
    pub fn card_template(self) -> &'static str {
        match self {
            Purpose::Review => tpl::REVIEW_CARD,
            Purpose::Exemption => tpl::EXEMPTION_CARD,
        }
    }

    pub fn card_heading(self) -> &'static str {
        match self {
            Purpose::Review => tpl::REVIEW_CARD_HEADING,
            Purpose::Exemption => tpl::EXEMPTION_CARD_HEADING,
        }
    }

    pub fn card_closed(self) -> &'static str {
        match self {
            Purpose::Review => tpl::REVIEW_CARD_CLOSED,
            Purpose::Exemption => tpl::EXEMPTION_CARD_CLOSED,
        }
    }

    /// What its filer is told when a level refuses it.
    pub fn refused(self) -> &'static str {
        match self {
            Purpose::Review => tpl::REVIEW_REJECTED,
            Purpose::Exemption => tpl::EXEMPT_REFUSED,
        }
    }

    /// The label of a level's refusal: 驳回, or 附件2's 不同意.
    pub fn reject_label(self) -> &'static str {
        match self {
            Purpose::Review => tpl::BUTTON_REJECT,
            Purpose::Exemption => tpl::BUTTON_DISAGREE,
        }
    }

    /// The 汇总表 a county sends up with its requests.
    pub fn summary_form(self) -> &'static str {
        match self {
            Purpose::Review => "附件6",
            Purpose::Exemption => "附件3",
        }
    }

    /// The label of the button that prints its form.
    pub fn form_button(self) -> &'static str {
        match self {
            Purpose::Review => tpl::BUTTON_REVIEW_FORM,
            Purpose::Exemption => tpl::BUTTON_EXEMPTION_FORM,
        }
    }
}
