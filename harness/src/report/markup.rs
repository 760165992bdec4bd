//! Escaping for the markup formats (HTML, SVG, JUnit XML): one function for all.

/// `text` with `& < > "` escaped, safe in element content and in quoted attributes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
