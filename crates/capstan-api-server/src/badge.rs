//! Argo CD's status badge, `GET /api/badge`: an SVG with an Application's health and sync
//! status (`?name=`), or the combined status of every Application of some projects
//! (`?project=a&project=b`), for READMEs and wikis. Served without authentication, as in Argo
//! CD, and only with `statusbadge.enabled: "true"` in argocd-cm; otherwise every badge says
//! Unknown. Query parameters as Argo CD's: `namespace`, `revision=true` (the synced revision,
//! 7 characters unless `keepFullRevision=true`), `showAppName=true`, `width`.
//!
//! The SVG is drawn here ([`render`]), not templated: boxes of fixed widths per row, text
//! centred in each, every text XML-escaped.

use std::fmt::Write as _;

use capstan_types::application::{HealthStatusCode, SyncStatusCode};

/// A badge colour (RGB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color(pub u8, pub u8, pub u8);

/// Healthy / Synced.
pub const GREEN: Color = Color(24, 190, 82);
/// Degraded.
pub const RED: Color = Color(233, 109, 118);
/// Progressing.
pub const BLUE: Color = Color(13, 173, 234);
/// OutOfSync.
pub const ORANGE: Color = Color(244, 192, 48);
/// Missing, and an Unknown sync status.
pub const PURPLE: Color = Color(178, 102, 255);
/// Unknown, Suspended, Not Found.
pub const GREY: Color = Color(204, 214, 221);

/// Width of the health box, and of the sync box without a revision.
const LEFT_WIDTH: u32 = 77;
/// The whole badge without a revision.
const WIDTH: u32 = 131;
/// With a 7-character revision.
const WIDTH_WITH_REVISION: u32 = 192;
/// With a full revision (`keepFullRevision=true`).
const WIDTH_WITH_FULL_REVISION: u32 = 400;
/// Per character of the app name in the title row.
const TITLE_CHAR_WIDTH: u32 = 6;
/// One row.
const ROW_HEIGHT: u32 = 20;

/// What a badge shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Badge {
    /// Left box: the health, or "Not Found".
    pub health: String,
    /// Its colour.
    pub health_color: Color,
    /// Right box: the sync status ("" when not found).
    pub sync: String,
    /// Its colour (also the revision box's).
    pub sync_color: Color,
    /// The revision box's text, already shortened; `None`: no revision box.
    pub revision: Option<String>,
    /// A title row above (the app name).
    pub title: Option<String>,
    /// Total width when asked for (`width=`); else from the content.
    pub width: Option<u32>,
}

impl Badge {
    /// The Unknown/Unknown badge (disabled, or nothing asked).
    pub fn unknown() -> Self {
        Self::of(HealthStatusCode::Unknown, SyncStatusCode::Unknown)
    }

    /// A badge for a health and a sync status, in Argo CD's colours.
    pub fn of(health: HealthStatusCode, sync: SyncStatusCode) -> Self {
        Self {
            health_color: health_color(&health),
            health: health.as_str().to_owned(),
            sync_color: sync_color(&sync),
            sync: sync.as_str().to_owned(),
            revision: None,
            title: None,
            width: None,
        }
    }

    /// The "Not Found" badge.
    pub fn not_found() -> Self {
        Self {
            health: "Not Found".to_owned(),
            sync: String::new(),
            ..Self::unknown()
        }
    }
}

/// The health box's colour.
pub fn health_color(health: &HealthStatusCode) -> Color {
    match health {
        HealthStatusCode::Healthy => GREEN,
        HealthStatusCode::Degraded => RED,
        HealthStatusCode::Progressing => BLUE,
        HealthStatusCode::Missing => PURPLE,
        _ => GREY,
    }
}

/// The sync box's colour.
pub fn sync_color(sync: &SyncStatusCode) -> Color {
    match sync {
        SyncStatusCode::Synced => GREEN,
        SyncStatusCode::OutOfSync => ORANGE,
        SyncStatusCode::Unknown => PURPLE,
        SyncStatusCode::Other(_) => GREY,
    }
}

/// The revision as the badge shows it: the first 7 characters unless `full`.
pub fn shown_revision(revision: &str, full: bool) -> String {
    if full {
        revision.to_owned()
    } else {
        revision.chars().take(7).collect()
    }
}

/// The SVG.
pub fn render(badge: &Badge) -> String {
    let natural = match &badge.revision {
        None => WIDTH,
        Some(r) if r.chars().count() > 7 => WIDTH_WITH_FULL_REVISION,
        Some(_) => WIDTH_WITH_REVISION,
    };
    let mut width = badge.width.unwrap_or(natural).max(LEFT_WIDTH + 1);
    let title = badge.title.as_deref().filter(|t| !t.is_empty());
    if let Some(title) = title {
        width = width.max(title.chars().count() as u32 * TITLE_CHAR_WIDTH);
    }
    let status_y = if title.is_some() { ROW_HEIGHT } else { 0 };
    let height = status_y + ROW_HEIGHT;
    // Right of the health box: the sync box, then the revision box.
    let (sync_width, revision_width) = match &badge.revision {
        Some(_) => {
            let sync_width = WIDTH - LEFT_WIDTH;
            (sync_width, width.saturating_sub(LEFT_WIDTH + sync_width))
        }
        None => (width - LEFT_WIDTH, 0),
    };
    let fill = |c: Color| format!("rgb({},{},{})", c.0, c.1, c.2);
    let mut label = String::from(&*escape(&badge.health));
    if !badge.sync.is_empty() {
        let _ = write!(label, ": {}", escape(&badge.sync));
    }
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{label}"><title>{label}</title>"#
    );
    svg.push_str(
        r#"<g font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">"#,
    );
    if let Some(title) = title {
        let _ = write!(
            svg,
            r##"<rect x="0" y="0" width="{width}" height="{ROW_HEIGHT}" fill="rgb(93,93,93)"/><text x="{}" y="14" fill="#fff">{}</text>"##,
            width / 2,
            escape(title)
        );
    }
    let text_y = status_y + 14;
    let mut boxed = |x: u32, w: u32, color: Color, text: &str, id: &str| {
        if w == 0 {
            return;
        }
        // Squeeze a text wider than its box (about 7 px per character at 11 px) into it.
        let room = w.saturating_sub(6);
        let fit = if text.chars().count() as u32 * 7 > room {
            format!(r#" textLength="{room}" lengthAdjust="spacingAndGlyphs""#)
        } else {
            String::new()
        };
        // Dark text on the light grey, white on the rest.
        let ink = if color == GREY { "#333" } else { "#fff" };
        let _ = write!(
            svg,
            r##"<rect id="{id}Rect" x="{x}" y="{status_y}" width="{w}" height="{ROW_HEIGHT}" fill="{}"/><text id="{id}Text" x="{}" y="{text_y}" fill="{ink}"{fit}>{}</text>"##,
            fill(color),
            x + w / 2,
            escape(text)
        );
    };
    boxed(0, LEFT_WIDTH, badge.health_color, &badge.health, "left");
    boxed(
        LEFT_WIDTH,
        sync_width,
        badge.sync_color,
        &badge.sync,
        "right",
    );
    if let Some(revision) = &badge.revision {
        boxed(
            LEFT_WIDTH + sync_width,
            revision_width,
            badge.sync_color,
            &format!("({revision})"),
            "revision",
        );
    }
    svg.push_str("</g></svg>");
    svg
}

/// XML-escapes text content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `name` is a valid Application name (a DNS-1123 subdomain), as Argo CD checks
/// before looking it up.
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `name` is a valid DNS-1123 label (namespaces; projects after lowercasing).
pub fn valid_label(name: &str) -> bool {
    !name.is_empty() && name.len() <= 63 && valid_app_name(name) && !name.contains('.')
}

/// The combined status of a project badge: Synced only when every app is, Healthy only when
/// every app is; Unknown/Unknown for no app.
pub fn combined<'a>(
    apps: impl IntoIterator<Item = (&'a HealthStatusCode, &'a SyncStatusCode)>,
) -> (HealthStatusCode, SyncStatusCode) {
    let mut any = false;
    let mut healthy = true;
    let mut synced = true;
    for (health, sync) in apps {
        any = true;
        healthy &= *health == HealthStatusCode::Healthy;
        synced &= *sync == SyncStatusCode::Synced;
    }
    match (any, healthy, synced) {
        (false, _, _) => (HealthStatusCode::Unknown, SyncStatusCode::Unknown),
        (true, h, s) => (
            if h {
                HealthStatusCode::Healthy
            } else {
                HealthStatusCode::Degraded
            },
            if s {
                SyncStatusCode::Synced
            } else {
                SyncStatusCode::OutOfSync
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr<'a>(svg: &'a str, id: &str, name: &str) -> Option<&'a str> {
        let at = svg.find(&format!(r#"id="{id}""#))?;
        let rest = &svg[at..];
        let start = rest.find(&format!(r#" {name}=""#))? + name.len() + 3;
        rest[start..].split('"').next()
    }

    fn text<'a>(svg: &'a str, id: &str) -> Option<&'a str> {
        let at = svg.find(&format!(r#"id="{id}""#))?;
        let rest = &svg[at..];
        let start = rest.find('>')? + 1;
        rest[start..].split('<').next()
    }

    #[test]
    fn badges_show_status_in_argo_cds_colours_and_widths() {
        let with = |f: fn(&mut Badge)| {
            let mut b = Badge::of(HealthStatusCode::Healthy, SyncStatusCode::Synced);
            f(&mut b);
            b
        };
        /// (badge, svg width, left text, right text, right colour, revision text)
        type Case = (
            Badge,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                Badge::unknown(),
                "131",
                "Unknown",
                "Unknown",
                "rgb(178,102,255)",
                None,
            ),
            (
                with(|_| {}),
                "131",
                "Healthy",
                "Synced",
                "rgb(24,190,82)",
                None,
            ),
            (
                Badge::of(HealthStatusCode::Degraded, SyncStatusCode::OutOfSync),
                "131",
                "Degraded",
                "OutOfSync",
                "rgb(244,192,48)",
                None,
            ),
            (
                with(|b| b.revision = Some(shown_revision("0123456789abcdef", false))),
                "192",
                "Healthy",
                "Synced",
                "rgb(24,190,82)",
                Some("(0123456)"),
            ),
            (
                with(|b| b.revision = Some(shown_revision("0123456789abcdef", true))),
                "400",
                "Healthy",
                "Synced",
                "rgb(24,190,82)",
                Some("(0123456789abcdef)"),
            ),
            (
                with(|b| b.width = Some(300)),
                "300",
                "Healthy",
                "Synced",
                "rgb(24,190,82)",
                None,
            ),
            (
                Badge::not_found(),
                "131",
                "Not Found",
                "",
                "rgb(178,102,255)",
                None,
            ),
        ];
        for (badge, width, left, right, right_color, revision) in cases {
            let svg = render(&badge);
            assert!(svg.starts_with("<svg "), "{svg}");
            assert!(
                svg.contains(&format!(r#"width="{width}" height="20""#)),
                "{badge:?}: {svg}"
            );
            assert_eq!(text(&svg, "leftText"), Some(left), "{svg}");
            assert_eq!(text(&svg, "rightText"), Some(right), "{svg}");
            assert_eq!(attr(&svg, "rightRect", "fill"), Some(right_color), "{svg}");
            assert_eq!(text(&svg, "revisionText"), revision, "{svg}");
            // The boxes fill the badge exactly.
            let widths: u32 = ["leftRect", "rightRect", "revisionRect"]
                .iter()
                .filter_map(|id| attr(&svg, id, "width"))
                .map(|w| w.parse::<u32>().unwrap())
                .sum();
            assert_eq!(widths.to_string(), width, "{svg}");
        }
    }

    #[test]
    fn a_title_row_is_as_wide_as_the_name_and_text_is_escaped() {
        let mut badge = Badge::of(HealthStatusCode::Progressing, SyncStatusCode::Synced);
        let long = "a-very-long-application-name-for-the-badge";
        badge.title = Some(long.to_owned());
        let svg = render(&badge);
        let width = (long.len() as u32 * TITLE_CHAR_WIDTH).to_string();
        assert!(
            svg.contains(&format!(r#"width="{width}" height="40""#)),
            "{svg}"
        );
        assert!(svg.contains(&format!(">{long}</text>")), "{svg}");
        assert_eq!(attr(&svg, "leftRect", "y"), Some("20"));
        assert_eq!(attr(&svg, "leftRect", "fill"), Some("rgb(13,173,234)"));

        badge.title = Some("<script>&\"'".to_owned());
        let svg = render(&badge);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&apos;"), "{svg}");
    }

    #[test]
    fn names_are_checked_as_argo_cd_checks_them() {
        for (name, app, label) in [
            ("guestbook", true, true),
            ("orders-api.prod", true, false),
            ("", false, false),
            ("Guestbook", false, false),
            ("-x", false, false),
            ("x-", false, false),
            ("a..b", false, false),
            ("../etc", false, false),
            ("a b", false, false),
            (&"a".repeat(64) as &str, true, false),
        ] {
            assert_eq!(valid_app_name(name), app, "{name}");
            assert_eq!(valid_label(name), label, "{name}");
        }
    }

    #[test]
    fn project_badges_combine_their_apps() {
        use HealthStatusCode as H;
        use SyncStatusCode as S;
        type Case<'a> = (&'a [(H, S)], (H, S));
        let cases: &[Case] = &[
            (&[], (H::Unknown, S::Unknown)),
            (&[(H::Healthy, S::Synced)], (H::Healthy, S::Synced)),
            (
                &[(H::Healthy, S::Synced), (H::Progressing, S::Synced)],
                (H::Degraded, S::Synced),
            ),
            (
                &[(H::Healthy, S::OutOfSync), (H::Healthy, S::Synced)],
                (H::Healthy, S::OutOfSync),
            ),
        ];
        for (apps, expected) in cases {
            assert_eq!(
                combined(apps.iter().map(|(h, s)| (h, s))),
                expected.clone(),
                "{apps:?}"
            );
        }
    }
}
