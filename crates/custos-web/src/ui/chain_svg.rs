//! The chain of an activity as a picture, drawn on the server as SVG: the controller at the
//! top, each link one row below its parent and one column to the right, joined by elbows like
//! a file tree. Each link shows its processor, country, depth, authorisation state, transfer
//! flag and the number of findings at it.

use custos_render::escape_html as escape;
use std::fmt::Write;

/// What one box of the picture says.
#[derive(Debug, Clone)]
pub struct Node {
    pub title: String,
    pub subtitle: String,
    /// A third line: what the processor does.
    pub detail: String,
    /// The parent row; none for the controller.
    pub parent: Option<usize>,
    pub depth: u32,
    pub badges: Vec<Badge>,
    /// Findings at this link.
    pub findings: usize,
    /// Where the box links to (the organisation's page).
    pub href: String,
}

#[derive(Debug, Clone)]
pub struct Badge {
    pub text: String,
    pub tone: Tone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Neutral,
    Warn,
    Bad,
}

impl Tone {
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Self::Good => ("#e7f6ec", "#0a6b3d"),
            Self::Neutral => ("#eef1f5", "#3b4656"),
            Self::Warn => ("#fff4e0", "#8a4b00"),
            Self::Bad => ("#fde8e7", "#b42318"),
        }
    }
}

const BOX_W: u32 = 360;
const BOX_H: u32 = 76;
const COLUMN: u32 = 48;
const ROW: u32 = 94;
/// Characters of the detail line that fit in a box.
const DETAIL_CHARS: usize = 52;

fn badge_width(badge: &Badge) -> u32 {
    14 + 7 * badge.text.chars().count() as u32
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}
const MARGIN: u32 = 8;

/// The picture of `nodes` (row 0 is the controller), titled for screen readers.
pub fn render(title: &str, nodes: &[Node]) -> String {
    let width = nodes
        .iter()
        .map(|n| {
            MARGIN * 2
                + n.depth * COLUMN
                + BOX_W
                + n.badges.iter().map(|b| badge_width(b) + 6).sum::<u32>()
                + 10
        })
        .max()
        .unwrap_or(BOX_W);
    let height = MARGIN * 2 + (nodes.len().max(1) as u32) * ROW;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chain" role="img" aria-labelledby="chain-title" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif"><title id="chain-title">{}</title>"#,
        escape(title)
    );
    let position = |row: usize, depth: u32| (MARGIN + depth * COLUMN, MARGIN + row as u32 * ROW);
    for (row, node) in nodes.iter().enumerate() {
        if let Some(parent) = node.parent {
            let (px, py) = position(parent, nodes[parent].depth);
            let (x, y) = position(row, node.depth);
            let elbow_x = px + 18;
            let _ = write!(
                svg,
                r##"<path d="M{elbow_x} {} V{} H{x}" fill="none" stroke="#9aa4b2" stroke-width="1.5"/>"##,
                py + BOX_H,
                y + BOX_H / 2
            );
        }
    }
    for (row, node) in nodes.iter().enumerate() {
        let (x, y) = position(row, node.depth);
        let border = if node.findings > 0 {
            "#b42318"
        } else if node.parent.is_none() {
            "#1d2a44"
        } else {
            "#c5ccd6"
        };
        let _ = write!(
            svg,
            r##"<a href="{}"><g class="link" data-depth="{}"><title>{}</title><rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="#ffffff" stroke="{border}" stroke-width="{}"/><text x="{}" y="{}" font-size="15" font-weight="600" fill="#1d2330">{}</text><text x="{}" y="{}" font-size="12.5" fill="#4a5568">{}</text><text x="{}" y="{}" font-size="12.5" fill="#4a5568">{}</text></g></a>"##,
            escape(&node.href),
            node.depth,
            escape(&format!("{}: {}", node.title, node.detail)),
            if node.findings > 0 { 2 } else { 1 },
            x + 12,
            y + 24,
            escape(&node.title),
            x + 12,
            y + 44,
            escape(&node.subtitle),
            x + 12,
            y + 63,
            escape(&shorten(&node.detail, DETAIL_CHARS)),
        );
        let mut badge_x = x + BOX_W + 10;
        for badge in &node.badges {
            let (fill, ink) = badge.tone.colours();
            let w = badge_width(badge);
            let _ = write!(
                svg,
                r#"<rect x="{badge_x}" y="{}" width="{w}" height="22" rx="11" fill="{fill}"/><text x="{}" y="{}" font-size="12" fill="{ink}">{}</text>"#,
                y + 6,
                badge_x + 7,
                y + 21,
                escape(&badge.text)
            );
            badge_x += w + 6;
        }
        if node.findings > 0 {
            let cx = x + BOX_W - 14;
            let _ = write!(
                svg,
                r##"<circle cx="{cx}" cy="{}" r="11" fill="#b42318"/><text x="{cx}" y="{}" font-size="12" font-weight="700" fill="#fff" text-anchor="middle">{}</text>"##,
                y + 18,
                y + 22,
                node.findings
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_node_with_escaped_text_and_an_elbow_per_link() {
        let nodes = vec![
            Node {
                title: "Hypermarket A".into(),
                subtitle: "controller".into(),
                detail: String::new(),
                parent: None,
                depth: 0,
                badges: vec![],
                findings: 0,
                href: "/organisations/hypermarket-a".into(),
            },
            Node {
                title: "Agency <B> & Co".into(),
                subtitle: "agency-b · ES · depth 1".into(),
                detail: "Segmentation of customers and marketing campaigns, and much more besides"
                    .into(),
                parent: Some(0),
                depth: 1,
                badges: vec![Badge {
                    text: "transfer → IL".into(),
                    tone: Tone::Warn,
                }],
                findings: 2,
                href: "/organisations/agency-b".into(),
            },
        ];
        let svg = render("Chain of customer-marketing", &nodes);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Agency &lt;B&gt; &amp; Co"));
        assert!(!svg.contains("<B>"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert_eq!(svg.matches("class=\"link\"").count(), 2);
        assert!(svg.contains("transfer → IL"));
        assert!(svg.contains(">2</text>"), "the finding count is drawn");
        assert!(
            svg.contains("marketing campaigns, …<"),
            "long details are shortened"
        );
    }
}
