//! The checks as JUnit XML, for CI systems that show test results.

use super::markup::escape;
use crate::summary::Check;

pub fn render(suite: &str, checks: &[Check]) -> String {
    let failures = checks.iter().filter(|c| !c.passed).count();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s += &format!(
        "<testsuites tests=\"{n}\" failures=\"{failures}\">\n  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{failures}\">\n",
        escape(suite),
        n = checks.len()
    );
    for c in checks {
        let detail = match &c.baseline {
            Some(b) => format!("value {}, limit {}, baseline {b}", c.value, c.limit),
            None => format!("value {}, limit {}", c.value, c.limit),
        };
        s += &format!("    <testcase classname=\"harness.check\" name=\"{}\"", escape(&c.name));
        if c.passed {
            s += &format!("><system-out>{}</system-out></testcase>\n", escape(&detail));
        } else {
            s += &format!("><failure message=\"{}\"/></testcase>\n", escape(&detail));
        }
    }
    s += "  </testsuite>\n</testsuites>\n";
    s
}
