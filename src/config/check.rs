//! Whether a configuration can run: every key in its range, the sections' own rules (the
//! deployment's, each city's and each unit's), and retired keys named with what replaced them.
//! Checked at start, before anything is read or sent.

use super::*;

impl Config {
    /// Refuses a configuration the bot could not run on, naming the key.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.telegram.polling_timeout_secs as u64 >= self.telegram.request_timeout_secs {
            bail!("telegram.polling_timeout_secs must be below telegram.request_timeout_secs");
        }
        if self.delivery.lease_secs <= self.telegram.request_timeout_secs {
            bail!("delivery.lease_secs must be above telegram.request_timeout_secs");
        }
        if let Some(url) = &self.telegram.board_url
            && !reqwest::Url::parse(url).is_ok_and(|u| u.scheme() == "https" && u.has_host())
        {
            bail!("telegram.board_url must be an https:// address (Telegram opens no other)");
        }
        if !(1..=100).contains(&self.telegram.updates_in_flight) {
            bail!("telegram.updates_in_flight must be between 1 and 100 (getUpdates' limit)");
        }
        if self.entry.lift_grace_hours.is_some() {
            bail!(
                "entry.lift_grace_hours is gone: a lifted 缺考 is no longer reported late; a city \
                 admin accepts a batch sealed before the cutoff at once (entry.late_report)"
            );
        }
        if !(1..=2880).contains(&self.entry.password_shown_minutes) {
            bail!(
                "entry.password_shown_minutes must be between 1 and 2880 (Telegram lets a bot \
                 delete its message for 48 hours)"
            );
        }
        if self.limits.bound_updates_per_minute == 0 || self.limits.max_file_mb == 0 {
            bail!("limits.bound_updates_per_minute and limits.max_file_mb must be above 0");
        }
        if !(1..=30).contains(&self.telegram.messages_per_second) {
            bail!("telegram.messages_per_second must be between 1 and 30");
        }
        self.reminders
            .check()
            .map_err(|e| anyhow::anyhow!("reminders: {e}"))?;
        self.entry.report_by()?;
        let days = self.rules.review_within_days;
        check_review("review", &self.review, days)?;
        check_exemption("exemption", &self.exemption)?;
        for (unit, own) in &self.units {
            if unit.trim().is_empty() || unit.trim() != unit {
                bail!("units.\"{unit}\": a unit's section is named by its unit code alone");
            }
            if self.cities.contains_key(unit) {
                bail!(
                    "units.{unit}: that code has a [cities.{unit}] section; a city's rules go there"
                );
            }
            if let Some(review) = &own.review {
                check_review(&format!("units.{unit}.review"), review, days)?;
            }
            if let Some(exemption) = &own.exemption {
                check_exemption(&format!("units.{unit}.exemption"), exemption)?;
            }
        }
        for (city, own) in &self.cities {
            if city.trim().is_empty() || city.trim() != city {
                bail!("cities.\"{city}\": a city's section is named by the city's unit code alone");
            }
            if let Some(review) = &own.review {
                check_review(&format!("cities.{city}.review"), review, days)?;
            }
            if let Some(exemption) = &own.exemption {
                check_exemption(&format!("cities.{city}.exemption"), exemption)?;
            }
            if let Some(name) = &own.bot_username {
                // A city's bot writes only to chats that wrote to it (`is_city_bot`): given the
                // deployment's own name, or a name that is no Telegram username, the bot that
                // should write to everyone else would not, or the city's would.
                let is_username =
                    name.len() >= 5 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !is_username {
                    bail!(
                        "cities.{city}.bot_username: \"{name}\" is not a bot's username \
                         (letters, digits and _, without the @)"
                    );
                }
                if self
                    .bot_username
                    .as_deref()
                    .is_some_and(|own| own.eq_ignore_ascii_case(name))
                {
                    bail!(
                        "cities.{city}.bot_username is the deployment's bot_username: a city's \
                         own bot is another bot (leave the key out to use the deployment's)"
                    );
                }
            }
        }
        self.check_spans()?;
        if self.delivery.concurrency == 0 {
            bail!("delivery.concurrency must be at least 1");
        }
        crate::domain::ids::IdPattern::new(&self.identifiers.exam_no_pattern)
            .context("identifiers.exam_no_pattern is not a valid regular expression")?;
        crate::domain::ids::IdPattern::new(&self.identifiers.reg_no_pattern)
            .context("identifiers.reg_no_pattern is not a valid regular expression")?;
        Ok(())
    }

    /// Days, hours and points beyond any season's: a deadline a billion days away is past the
    /// calendar's end (computing it would stop the bot), and an item maximum that large
    /// overflows a score.
    fn check_spans(&self) -> anyhow::Result<()> {
        const MAX_DAYS: u32 = 366;
        const MAX_HOURS: u32 = 24 * MAX_DAYS;
        const MAX_ITEM_POINTS: u32 = 1000;
        let rules = &self.rules;
        for (key, days) in [
            ("rules.publish_within_days", rules.publish_within_days),
            ("rules.review_within_days", rules.review_within_days),
        ] {
            if days > MAX_DAYS {
                bail!("{key} must be at most {MAX_DAYS} days");
            }
        }
        let hours = [
            (
                "reminders.publish_before_hours",
                &self.reminders.publish_before_hours,
            ),
            (
                "reminders.urgent_before_hours",
                &self.reminders.urgent_before_hours,
            ),
            ("entry.remind_before_hours", &self.entry.remind_before_hours),
        ];
        for (key, list) in hours {
            if list.iter().any(|h| *h > MAX_HOURS) {
                bail!("{key} must be at most {MAX_HOURS} hours");
            }
        }
        let m = rules.item_maxima;
        if [m.main, m.secondary_one, m.secondary_two, m.tidying]
            .iter()
            .any(|p| *p > MAX_ITEM_POINTS)
        {
            bail!("rules.item_maxima must be at most {MAX_ITEM_POINTS} points each");
        }
        Ok(())
    }
}

/// A `[review]` section's own rules (the deployment's, or a city's at `key`).
fn check_review(key: &str, review: &Review, window_days: u32) -> anyhow::Result<()> {
    use crate::domain::UnitKind;
    use crate::domain::workflow::Scope;
    // Publication may come late on its day: filing keeps at least one whole day of the window.
    let most = window_days.saturating_sub(1).saturating_mul(24);
    if review.filing_closes_hours > most {
        bail!(
            "{key}.filing_closes_hours must be at most {most} (rules.review_within_days less one \
             day: filing keeps at least a day of the window)"
        );
    }
    if review.amend_hours > 24 * 366 {
        bail!("{key}.amend_hours must be at most {} hours", 24 * 366);
    }
    if review.steps.is_empty() {
        bail!("{key}.steps must name at least one approval level");
    }
    check_city_direct(key, &review.steps)?;
    let group = &review.group;
    if review.min_group.is_some() {
        bail!(
            "{key}.min_group is now {key}.group.min_size (and the group is the district's by \
             default: see [review.group] in exam-review-bot.example.toml)"
        );
    }
    if !matches!(group.unit, Scope::District | Scope::City) {
        bail!("{key}.group.unit must be district or city");
    }
    if group.roles.is_empty() || group.min_size == 0 {
        bail!("{key}.group needs at least one role and a min_size of at least 1");
    }
    for role in &group.roles {
        if !role.fits(UnitKind::District) && !role.fits(UnitKind::City) {
            bail!("{key}.group.roles: {role} is a school's role, not a review group's");
        }
    }
    if let Some(r) = group.required.iter().find(|r| !group.roles.contains(r)) {
        bail!("{key}.group.required names {r}, which is not among {key}.group.roles");
    }
    let recheck = &review.recheck;
    if recheck.enabled && (recheck.signatures == 0 || !recheck.role.fits(UnitKind::City)) {
        bail!("{key}.recheck needs at least one signature, by a role of the city");
    }
    if recheck.enabled && group.roles.contains(&recheck.role) {
        // Its holders at the city would sign the group's result and could not then give the
        // 复审 of it (nobody re-examines their own result).
        bail!(
            "{key}.recheck.role {} is also a review group role",
            recheck.role
        );
    }
    Ok(())
}

/// A level's `city_direct_role` stands in for a district, by a role the city holds.
fn check_city_direct(key: &str, steps: &[crate::domain::workflow::Step]) -> anyhow::Result<()> {
    use crate::domain::UnitKind;
    use crate::domain::workflow::Scope;
    for (i, st) in steps.iter().enumerate() {
        let Some(role) = st.city_direct_role else {
            continue;
        };
        if st.unit != Scope::District || st.skip_for_city_direct {
            bail!(
                "{key}.steps[{i}].city_direct_role is for a district level that city-direct \
                 schools do not skip"
            );
        }
        if !role.fits(UnitKind::City) {
            bail!(
                "{key}.steps[{i}].city_direct_role: {} is not bound in a city",
                role.slug()
            );
        }
    }
    Ok(())
}

fn check_exemption(key: &str, exemption: &Exemption) -> anyhow::Result<()> {
    if exemption.steps.is_empty() {
        bail!("{key}.steps must name at least one approval level");
    }
    check_city_direct(key, &exemption.steps)?;
    if !(exemption.score_share > 0.0 && exemption.score_share <= 1.0) {
        bail!("{key}.score_share must be above 0 and at most 1");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::workflow::Route;

    #[test]
    fn the_example_file_parses_and_env_overrides_it() {
        let text = include_str!("../../exam-review-bot.example.toml");
        let mut config: Config = toml::from_str(text).unwrap();
        config.check().unwrap();
        config.apply_env(|k| (k == "DATABASE_URL").then(|| "postgres://x/y".to_string()));
        assert_eq!(config.database_url, "postgres://x/y");
        assert_eq!(
            config.exemption.route(),
            crate::domain::workflow::Route::exemption_default(),
            "the example's 免考 route is the default one"
        );
    }

    #[test]
    fn the_board_is_offered_only_at_an_https_address() {
        let with = |url: &str| {
            let mut config = Config::default();
            config.telegram.board_url = Some(url.into());
            config.check()
        };
        assert!(with("https://bot.example.org/board").is_ok());
        assert!(with("http://bot.example.org/board").is_err());
        assert!(with("bot.example.org/board").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Config>("databse_url = 'x'").is_err());
    }

    #[test]
    fn the_city_wide_group_route_reads_as_the_route_before_the_documents() {
        let text = include_str!("../../config/city-wide-group.toml");
        let config: Config = toml::from_str(text).unwrap();
        config.check().unwrap();
        assert_eq!(
            config.review.route(),
            crate::domain::workflow::Route::before_documents()
        );
    }

    #[test]
    fn a_city_runs_its_own_route_and_the_others_the_deployments() {
        let text = include_str!("../../config/city-wide-group.toml");
        let own: Config = toml::from_str(text).unwrap();
        let mut config = Config::default();
        config.cities.insert(
            "8800".into(),
            CityRules {
                review: Some(own.review),
                bot_username: Some("LvshuiExamBot".into()),
                ..CityRules::default()
            },
        );
        config.check().unwrap();
        // The city's invite links name its own bot; another city's name the deployment's.
        config.bot_username = Some("ProvinceExamBot".into());
        config.check().unwrap();
        assert_eq!(config.bot_username_of("8800"), Some("LvshuiExamBot"));
        assert_eq!(config.bot_username_of("4101"), Some("ProvinceExamBot"));
        // A city's own bot is another bot, named as Telegram names it.
        for (name, says) in [
            ("provinceexambot", "is the deployment's"),
            ("@LvshuiExamBot", "is not a bot's username"),
        ] {
            let mut wrong = config.clone();
            wrong.cities.get_mut("8800").unwrap().bot_username = Some(name.into());
            let err = wrong.check().unwrap_err().to_string();
            assert!(
                err.contains(says) && err.contains("cities.8800.bot_username"),
                "{err}"
            );
        }
        let before = crate::domain::workflow::Route::before_documents();
        assert_eq!(config.review_route("8800"), before);
        assert_eq!(config.review_route("4101"), Route::review_default());
        assert_eq!(
            config.exemption_of("8800").route(),
            Route::exemption_default()
        );
    }

    #[test]
    fn a_citys_section_is_checked_and_named_in_the_error() {
        let text = "[cities.8800.review.group]\nroles = ['principal']\n";
        let config: Config = toml::from_str(text).unwrap();
        let e = config.check().unwrap_err().to_string();
        assert!(e.contains("cities.8800.review.group.roles"), "{e}");
        let text = "[cities.8800.exemption]\nscore_share = 2.0\n";
        let config: Config = toml::from_str(text).unwrap();
        let e = config.check().unwrap_err().to_string();
        assert!(e.contains("cities.8800.exemption.score_share"), "{e}");
        assert!(toml::from_str::<Config>("[cities.8800]\nrules = 1").is_err());
    }

    #[test]
    fn a_required_role_outside_the_group_is_refused() {
        let mut config = Config::default();
        config.review.group.required = vec![crate::domain::Role::CityAdmin];
        let e = config.check().unwrap_err().to_string();
        assert!(e.contains("city-admin"), "{e}");
    }

    /// Found by the config fuzz target: `season` stopped with a panic on a deadline past the
    /// calendar's end (fuzz/corpus/config/*-beyond-the-calendar.toml).
    #[test]
    fn days_and_hours_beyond_the_calendar_are_refused_with_their_key() {
        for (text, key) in [
            (
                "[rules]\npublish_within_days = 4294967295",
                "rules.publish_within_days",
            ),
            (
                "[reminders]\nurgent_before_hours = [4294967295]",
                "reminders.urgent_before_hours",
            ),
            (
                "[rules.item_maxima]\nmain = 4294967295\nsecondary_one = 6\nsecondary_two = 6\ntidying = 2",
                "rules.item_maxima",
            ),
        ] {
            let config: Config = toml::from_str(text).unwrap();
            let e = config.check().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn a_districts_own_route_is_checked_and_chosen_for_its_schools() {
        let config: Config = toml::from_str(
            "[[units.D002.review.steps]]\nname = \"校长\"\nrole = \"principal\"\nunit = \"school\"\nrule = \"any\"",
        )
        .unwrap();
        config.check().unwrap();
        assert_eq!(config.review_route_of_unit("C", "D002").steps.len(), 1);
        assert_eq!(config.review_route_of_unit("C", "D001").steps.len(), 2);
        let bad: Config = toml::from_str("[units.D002.review]\nsteps = []").unwrap();
        let e = bad.check().unwrap_err().to_string();
        assert!(e.contains("units.D002.review.steps"), "{e}");
    }

    #[test]
    fn filing_keeps_a_day_of_the_review_window() {
        let config: Config = toml::from_str("[review]\nfiling_closes_hours = 49").unwrap();
        let e = config.check().unwrap_err().to_string();
        assert!(
            e.contains("review.filing_closes_hours must be at most 48"),
            "{e}"
        );
        let config: Config = toml::from_str("[review]\nfiling_closes_hours = 48").unwrap();
        config.check().unwrap();
    }

    #[test]
    fn the_retired_lift_grace_key_says_what_replaced_it() {
        let config: Config = toml::from_str("[entry]\nlift_grace_hours = 12").unwrap();
        let e = config.check().unwrap_err().to_string();
        assert!(e.contains("entry.late_report"), "{e}");
        let strict: Config = toml::from_str("[entry]\nlate_report = \"never\"").unwrap();
        assert_eq!(strict.entry.late_report, LateReport::Never);
    }

    #[test]
    fn an_old_min_group_key_says_where_it_went() {
        let config: Config = toml::from_str("[review]\nmin_group = 3").unwrap();
        let e = config.check().unwrap_err().to_string();
        assert!(e.contains("review.group.min_size"), "{e}");
    }
}
